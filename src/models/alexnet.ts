// AlexNet (Krizhevsky, Sutskever and Hinton, 2012) in torchvision's module
// layout, so PyTorch state_dict names (features.0.weight, classifier.6.bias)
// load directly. The grouped layers (conv2, conv4, conv5: groups=2) are the
// trace of the original two-GPU split; src/devices runs that split for real.
import { errors } from '../errors.js';
import { Conv2d } from '../layers/conv2d.js';
import type { ConvRunner } from '../layers/conv-runner.js';
import { Dropout, Flatten, LocalResponseNorm, Linear, MaxPool2d, ReLU, Sequential } from '../layers/layers.js';
import { Module, type StateDict } from '../layers/module.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';

export interface AlexNetConfig {
  /** Output channels of conv1..conv5; the paper's [96, 256, 384, 384, 256]. */
  channels: [number, number, number, number, number];
  /** Width of fc6 and fc7; 4096. */
  hidden: number;
  /** Classes (fc8 outputs); 1000. */
  classes: number;
  /** Side of conv5's pooled output, which fixes fc6's inputs (channels[4] * pooled^2); 6 for 227x227 input. */
  pooled: number;
}

export const ALEXNET_PAPER: AlexNetConfig = { channels: [96, 256, 384, 384, 256], hidden: 4096, classes: 1000, pooled: 6 };

export interface AlexNetOptions extends Partial<AlexNetConfig> {
  /** Seed of the (PyTorch-default) random initialisation; the same seed gives the same weights. */
  seed?: number;
}

function checkConfig(config: AlexNetConfig): void {
  if (!Array.isArray(config.channels) || config.channels.length !== 5) {
    throw errors.invalid('channels', `expected 5 channel counts (conv1..conv5), got ${JSON.stringify(config.channels)}`);
  }
  config.channels.forEach((c, i) => {
    if (!Number.isInteger(c) || c <= 0) throw errors.notPositiveInteger(`channels[${i}]`, c);
  });
  // conv2, conv4 and conv5 have groups=2: their inputs and outputs must split in two.
  for (const i of [0, 1, 2, 3, 4]) {
    if (config.channels[i] % 2 !== 0) throw errors.channelsNotDivisible(`channels[${i}]`, config.channels[i], 2);
  }
  for (const name of ['hidden', 'classes', 'pooled'] as const) {
    if (!Number.isInteger(config[name]) || config[name] <= 0) throw errors.notPositiveInteger(name, config[name]);
  }
}

/** Number of parameters of an AlexNet of this shape, without building it. */
export function alexNetParameterCount(config: AlexNetConfig = ALEXNET_PAPER): number {
  checkConfig(config);
  const [c1, c2, c3, c4, c5] = config.channels;
  const conv = (cin: number, cout: number, k: number, groups: number) => cout * (cin / groups) * k * k + cout;
  const fc = (inputs: number, outputs: number) => outputs * inputs + outputs;
  return (
    conv(3, c1, 11, 1) +
    conv(c1, c2, 5, 2) +
    conv(c2, c3, 3, 1) +
    conv(c3, c4, 3, 2) +
    conv(c4, c5, 3, 2) +
    fc(c5 * config.pooled ** 2, config.hidden) +
    fc(config.hidden, config.hidden) +
    fc(config.hidden, config.classes)
  );
}

/** The shape of the AlexNet whose state_dict this is (channels and widths read off the weights). */
export function alexNetConfigOf(tensors: StateDict): AlexNetConfig {
  const shapeOf = (name: string, rank: number): number[] => {
    const t = tensors[name];
    if (!t) throw errors.invalid('tensors', `state_dict has no '${name}': not an AlexNet state_dict`);
    checkTensor(`tensors['${name}']`, t, [rank]);
    return t.shape;
  };
  const channels = [0, 4, 8, 10, 12].map((i) => shapeOf(`features.${i}.weight`, 4)[0]) as AlexNetConfig['channels'];
  const [hidden, fc6Inputs] = shapeOf('classifier.1.weight', 2);
  const classes = shapeOf('classifier.6.weight', 2)[0];
  const pooled = Math.round(Math.sqrt(fc6Inputs / channels[4]));
  if (pooled * pooled * channels[4] !== fc6Inputs) {
    throw errors.invalid("tensors['classifier.1.weight']", `${fc6Inputs} inputs is not ${channels[4]} channels times a square`);
  }
  return { channels, hidden, classes, pooled };
}

/**
 * AlexNet for inference (dropout is the identity). Input [N, 3, H, W] with H
 * and W giving a `pooled` x `pooled` map after conv5's pooling (227x227 for
 * the paper's model), logits [N, classes].
 */
export class AlexNet extends Module {
  readonly config: AlexNetConfig;
  readonly features: Sequential;
  readonly flatten = new Flatten(1);
  readonly classifier: Sequential;

  constructor(options: AlexNetOptions = {}) {
    super();
    const { seed = 0, ...shape } = options;
    const config: AlexNetConfig = { ...ALEXNET_PAPER, ...shape };
    checkConfig(config);
    this.config = config;
    const [c1, c2, c3, c4, c5] = config.channels;
    // Each layer gets its own seed derived from the model's, so the weights do not depend on what else was built before.
    let layerSeed = seed * 1000 + 1;
    const s = () => layerSeed++;
    const lrn = () => new LocalResponseNorm(5, 1e-4, 0.75, 2);
    const pool = () => new MaxPool2d({ kernelSize: 3, stride: 2 });
    this.features = this.registerModule(
      'features',
      new Sequential(
        new Conv2d({ inChannels: 3, outChannels: c1, kernelSize: 11, stride: 4, seed: s() }),
        new ReLU(),
        lrn(),
        pool(),
        new Conv2d({ inChannels: c1, outChannels: c2, kernelSize: 5, padding: 2, groups: 2, seed: s() }),
        new ReLU(),
        lrn(),
        pool(),
        new Conv2d({ inChannels: c2, outChannels: c3, kernelSize: 3, padding: 1, seed: s() }),
        new ReLU(),
        new Conv2d({ inChannels: c3, outChannels: c4, kernelSize: 3, padding: 1, groups: 2, seed: s() }),
        new ReLU(),
        new Conv2d({ inChannels: c4, outChannels: c5, kernelSize: 3, padding: 1, groups: 2, seed: s() }),
        new ReLU(),
        pool(),
      ),
    );
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(
        new Dropout(),
        new Linear({ inFeatures: c5 * config.pooled ** 2, outFeatures: config.hidden, seed: s() }),
        new ReLU(),
        new Dropout(),
        new Linear({ inFeatures: config.hidden, outFeatures: config.hidden, seed: s() }),
        new ReLU(),
        new Linear({ inFeatures: config.hidden, outFeatures: config.classes, seed: s() }),
      ),
    );
  }

  /** An AlexNet shaped like the state_dict, with its weights loaded (e.g. from loadSafetensors). */
  static fromStateDict(tensors: StateDict): AlexNet {
    const model = new AlexNet(alexNetConfigOf(tensors));
    model.loadStateDict(tensors);
    return model;
  }

  private checkInput(x: Tensor): void {
    checkTensor('x', x, [4]);
    if (x.shape[1] !== 3) throw errors.invalid('x.shape', `AlexNet takes 3 input channels, got shape [${x.shape}]`);
  }

  private checkPooled(h: Tensor, x: Tensor): void {
    const p = this.config.pooled;
    if (h.shape[2] !== p || h.shape[3] !== p) {
      throw errors.invalid('x.shape', `input ${x.shape[2]}x${x.shape[3]} gives a ${h.shape[2]}x${h.shape[3]} map before fc6, which expects ${p}x${p}`);
    }
  }

  /** Logits [N, classes], on this thread. */
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const h = this.features.forward(x);
    this.checkPooled(h, x);
    return this.classifier.forward(this.flatten.forward(h));
  }

  override async forwardWith(runner: ConvRunner, x: Tensor): Promise<Tensor> {
    this.checkInput(x);
    const h = await this.features.forwardWith(runner, x);
    this.checkPooled(h, x);
    return this.classifier.forwardWith(runner, this.flatten.forward(h));
  }
}
