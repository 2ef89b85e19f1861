import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm2d, ReLU } from '../layers/layers.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkOptions, layerSeeds, positiveInteger, step, ZooModel, type Graph } from './model.js';

export interface DepthwiseSeparableConvOptions {
  inChannels: number;
  outChannels: number;
  kernelSize?: number;
  stride?: number;
  padding?: number;
  seed?: number;
}

/**
 * Depthwise (groups = inChannels) then pointwise 1x1 convolution, BatchNorm,
 * ReLU (seed 004). Keys `dw.weight`, `pw.weight`, `bn.*`.
 */
export class DepthwiseSeparableConv extends ZooModel {
  readonly dw: Conv2d;
  readonly pw: Conv2d;
  readonly bn: BatchNorm2d;
  readonly act: ReLU;
  protected readonly expectedInputChannels: number;

  constructor(options: DepthwiseSeparableConvOptions) {
    super();
    const o = checkOptions(
      'DepthwiseSeparableConv',
      options,
      ['inChannels', 'outChannels', 'kernelSize', 'stride', 'padding', 'seed'],
      ['inChannels', 'outChannels'],
    );
    const inChannels = positiveInteger('inChannels', o.inChannels);
    const outChannels = positiveInteger('outChannels', o.outChannels);
    const seed = layerSeeds(o.seed);
    this.expectedInputChannels = inChannels;
    this.dw = this.registerModule(
      'dw',
      new Conv2d({
        inChannels,
        outChannels: inChannels,
        kernelSize: o.kernelSize ?? 3,
        stride: o.stride ?? 1,
        padding: o.padding ?? 1,
        groups: inChannels,
        bias: false,
        seed: seed(),
      }),
    );
    this.pw = this.registerModule('pw', new Conv2d({ inChannels, outChannels, kernelSize: 1, bias: false, seed: seed() }));
    this.bn = this.registerModule('bn', new BatchNorm2d(outChannels));
    this.act = this.registerModule('act', new ReLU());
  }

  protected *graph(x: Tensor): Graph {
    let out = yield step(this.dw, x);
    out = yield step(this.pw, out);
    out = yield step(this.bn, out);
    return yield step(this.act, out);
  }
}
