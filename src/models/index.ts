// Models, exported from the package as the `models` namespace: one line per model,
// PyTorch state_dict names throughout.
export { ZooModel } from './model.js';
export { ResNeXtBlock, type ResNeXtBlockOptions } from './resnext-block.js';
export { ShuffleBlock, type ShuffleBlockOptions } from './shuffle-block.js';
export { DepthwiseSeparableConv, type DepthwiseSeparableConvOptions } from './depthwise-separable-conv.js';
export { GroupedBottleneck, type GroupedBottleneckOptions } from './grouped-bottleneck.js';
export { MiniGroupNet, type MiniGroupNetOptions } from './mini-group-net.js';
export { GlobalDepthwiseConv, type GlobalDepthwiseConvOptions } from './global-depthwise-conv.js';
export { ResNetBottleneck, type ResNetBottleneckOptions } from './resnet-bottleneck.js';
export { AlexNet, ALEXNET_PAPER, alexNetParameterCount, alexNetConfigOf, type AlexNetConfig, type AlexNetOptions } from './alexnet.js';
