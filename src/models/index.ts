// Models, exported from the package as the `models` namespace. One line per model.
export { AlexNet, ALEXNET_PAPER, alexNetParameterCount, alexNetConfigOf, type AlexNetConfig, type AlexNetOptions } from './alexnet.js';
