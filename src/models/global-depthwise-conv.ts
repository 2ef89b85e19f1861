import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm2d } from '../layers/layers.js';
import type { Tensor } from '../tensor/tensor.js';
import { errors } from '../errors.js';
import { checkOptions, layerSeeds, positiveInteger, step, ZooModel, type Graph } from './model.js';

export interface GlobalDepthwiseConvOptions {
  channels: number;
  /** The feature map's size, which is the kernel's: 7 (or [7, 7]) for MobileFaceNet's 512x7x7. */
  size: number | [number, number];
  seed?: number;
}

/**
 * MobileFaceNet's global depthwise convolution (seed 003): groups = channels
 * and a kernel as large as the feature map, so each channel's map becomes one
 * value, a learned weighted average (e.g. 512x7x7 -> 512x1x1), then BatchNorm.
 * Keys `conv.weight`, `bn.*`, as InsightFace's Linear_block.
 */
export class GlobalDepthwiseConv extends ZooModel {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  protected readonly expectedInputChannels: number;

  constructor(options: GlobalDepthwiseConvOptions) {
    super();
    const o = checkOptions('GlobalDepthwiseConv', options, ['channels', 'size', 'seed'], ['channels', 'size']);
    const channels = positiveInteger('channels', o.channels);
    const size = typeof o.size === 'number' ? [o.size, o.size] : o.size;
    if (!Array.isArray(size) || size.length !== 2) throw errors.badPair('size', o.size, 'a positive integer or a [height, width] pair');
    size.forEach((v, i) => positiveInteger(`size[${i}]`, v));
    const seed = layerSeeds(o.seed);
    this.expectedInputChannels = channels;
    this.conv = this.registerModule(
      'conv',
      new Conv2d({ inChannels: channels, outChannels: channels, kernelSize: [size[0], size[1]], groups: channels, bias: false, seed: seed() }),
    );
    this.bn = this.registerModule('bn', new BatchNorm2d(channels));
  }

  protected *graph(x: Tensor): Graph {
    const out = yield step(this.conv, x);
    return yield step(this.bn, out);
  }
}
