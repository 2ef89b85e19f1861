import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm2d, ReLU, Sequential } from '../layers/layers.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkOptions, layerSeeds, positiveInteger, step, addStep, ZooModel, type Graph } from './model.js';

export interface ResNetBottleneckOptions {
  inChannels: number;
  /** Channels of the 1x1 -> 3x3 -> 1x1 bottleneck (64 in ResNet-50's first stage). */
  width: number;
  seed?: number;
}

/**
 * The plain ResNet bottleneck, for the parameter comparison with ResNeXt
 * (seed 000): ResNeXtBlock's structure (`conv.0` ... `conv.7`, `relu`) with an
 * ungrouped 3x3 of `width` channels. The convolutions alone of
 * ResNetBottleneck({ inChannels: 256, width: 64 }) hold 69,632 weights, those of
 * ResNeXtBlock({ inChannels: 256 }) 70,144.
 */
export class ResNetBottleneck extends ZooModel {
  readonly conv: Sequential;
  readonly relu: ReLU;
  protected readonly expectedInputChannels: number;

  constructor(options: ResNetBottleneckOptions) {
    super();
    const o = checkOptions('ResNetBottleneck', options, ['inChannels', 'width', 'seed'], ['inChannels', 'width']);
    const inChannels = positiveInteger('inChannels', o.inChannels);
    const width = positiveInteger('width', o.width);
    const seed = layerSeeds(o.seed);
    this.expectedInputChannels = inChannels;
    this.conv = this.registerModule(
      'conv',
      new Sequential(
        new Conv2d({ inChannels, outChannels: width, kernelSize: 1, bias: false, seed: seed() }),
        new BatchNorm2d(width),
        new ReLU(),
        new Conv2d({ inChannels: width, outChannels: width, kernelSize: 3, padding: 1, bias: false, seed: seed() }),
        new BatchNorm2d(width),
        new ReLU(),
        new Conv2d({ inChannels: width, outChannels: inChannels, kernelSize: 1, bias: false, seed: seed() }),
        new BatchNorm2d(inChannels),
      ),
    );
    this.relu = this.registerModule('relu', new ReLU());
  }

  protected *graph(x: Tensor): Graph {
    const branch = yield step(this.conv, x);
    const sum = yield addStep(x, branch);
    return yield step(this.relu, sum);
  }
}
