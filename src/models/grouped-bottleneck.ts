import { errors } from '../errors.js';
import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm2d, Identity, ReLU, Sequential } from '../layers/layers.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkOptions, divisible, layerSeeds, positiveInteger, roundHalfEven, step, addStep, ZooModel, type Graph } from './model.js';

export interface GroupedBottleneckOptions {
  inChannels: number;
  outChannels: number;
  /** Hidden width = round(outChannels * bottleneckRatio), rounding halves to even like Python. */
  bottleneckRatio?: number;
  /** Groups of the 3x3 convolution. */
  groups?: number;
  stride?: number;
  seed?: number;
}

/**
 * The ResNeXt-style grouped bottleneck of seed 004: `reduce` (1x1, BN, ReLU),
 * `group_conv` (3x3 grouped, stride, BN, ReLU), `expand` (1x1, BN), plus a
 * `skip` (1x1 strided conv + BN when the shape changes, otherwise identity),
 * added, then ReLU.
 */
export class GroupedBottleneck extends ZooModel {
  readonly reduce: Sequential;
  readonly groupConv: Sequential;
  readonly expand: Sequential;
  readonly skip: Sequential | Identity;
  readonly act: ReLU;
  readonly hidden: number;
  protected readonly expectedInputChannels: number;

  constructor(options: GroupedBottleneckOptions) {
    super();
    const o = checkOptions(
      'GroupedBottleneck',
      options,
      ['inChannels', 'outChannels', 'bottleneckRatio', 'groups', 'stride', 'seed'],
      ['inChannels', 'outChannels'],
    );
    const inChannels = positiveInteger('inChannels', o.inChannels);
    const outChannels = positiveInteger('outChannels', o.outChannels);
    const groups = positiveInteger('groups', o.groups ?? 4);
    const stride = positiveInteger('stride', o.stride ?? 1);
    const ratio = o.bottleneckRatio ?? 0.5;
    if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio <= 0) {
      throw errors.invalid('bottleneckRatio', `must be a positive number, got ${String(ratio)}`);
    }
    // int(round(cout * bottleneck_ratio)) in the seed: Python rounds 4.5 to 4.
    const hidden = roundHalfEven(outChannels * ratio);
    if (hidden === 0) throw errors.invalid('bottleneckRatio', `round(${outChannels} * ${ratio}) is 0: the bottleneck would have no channels`);
    divisible('groups', hidden, groups, `the hidden width round(outChannels * bottleneckRatio) = ${hidden}`);
    const seed = layerSeeds(o.seed);
    this.hidden = hidden;
    this.expectedInputChannels = inChannels;
    this.reduce = this.registerModule(
      'reduce',
      new Sequential(new Conv2d({ inChannels, outChannels: hidden, kernelSize: 1, bias: false, seed: seed() }), new BatchNorm2d(hidden), new ReLU()),
    );
    this.groupConv = this.registerModule(
      'group_conv',
      new Sequential(
        new Conv2d({ inChannels: hidden, outChannels: hidden, kernelSize: 3, stride, padding: 1, groups, bias: false, seed: seed() }),
        new BatchNorm2d(hidden),
        new ReLU(),
      ),
    );
    this.expand = this.registerModule(
      'expand',
      new Sequential(new Conv2d({ inChannels: hidden, outChannels, kernelSize: 1, bias: false, seed: seed() }), new BatchNorm2d(outChannels)),
    );
    this.skip = this.registerModule(
      'skip',
      stride !== 1 || inChannels !== outChannels
        ? new Sequential(new Conv2d({ inChannels, outChannels, kernelSize: 1, stride, bias: false, seed: seed() }), new BatchNorm2d(outChannels))
        : new Identity(),
    );
    this.act = this.registerModule('act', new ReLU());
  }

  protected *graph(x: Tensor): Graph {
    const identity = yield step(this.skip, x);
    let out = yield step(this.reduce, x);
    out = yield step(this.groupConv, out);
    out = yield step(this.expand, out);
    const sum = yield addStep(out, identity);
    return yield step(this.act, sum);
  }
}
