import { errors } from '../errors.js';
import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm2d, ReLU } from '../layers/layers.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkOptions, divisible, layerSeeds, positiveInteger, step, addStep, shuffleStep, ZooModel, type Graph } from './model.js';

export interface ShuffleBlockOptions {
  inChannels: number;
  outChannels: number;
  /** Groups of the two 1x1 convolutions and of the channel shuffle between them. */
  groups?: number;
  seed?: number;
}

/**
 * ShuffleNet's basic block (seed 000): 1x1 grouped conv to outChannels/4,
 * BatchNorm, ReLU, channel shuffle, 3x3 depthwise conv, BatchNorm, 1x1 grouped
 * conv, BatchNorm, residual add, ReLU. Keys `gconv1.weight`, `bn1.*`,
 * `dwconv.weight`, `bn2.*`, `gconv2.weight`, `bn3.*`.
 */
export class ShuffleBlock extends ZooModel {
  readonly gconv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly dwconv: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly gconv2: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly groups: number;
  protected readonly expectedInputChannels: number;

  constructor(options: ShuffleBlockOptions) {
    super();
    const o = checkOptions('ShuffleBlock', options, ['inChannels', 'outChannels', 'groups', 'seed'], ['inChannels', 'outChannels']);
    const inChannels = positiveInteger('inChannels', o.inChannels);
    const outChannels = positiveInteger('outChannels', o.outChannels);
    const groups = positiveInteger('groups', o.groups ?? 8);
    // The residual adds the input to the output, so PyTorch's block only runs when they match.
    if (inChannels !== outChannels) {
      throw errors.invalid('outChannels', `the residual add needs outChannels equal to inChannels (${inChannels}), got ${outChannels}`);
    }
    const mid = Math.floor(outChannels / 4);
    if (mid === 0) throw errors.invalid('outChannels', `must be at least 4 (the block is outChannels / 4 wide), got ${outChannels}`);
    divisible('groups', inChannels, groups, 'inChannels');
    divisible('groups', mid, groups, 'the bottleneck width outChannels / 4');
    const seed = layerSeeds(o.seed);
    this.groups = groups;
    this.expectedInputChannels = inChannels;
    this.gconv1 = this.registerModule('gconv1', new Conv2d({ inChannels, outChannels: mid, kernelSize: 1, groups, bias: false, seed: seed() }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(mid));
    this.dwconv = this.registerModule(
      'dwconv',
      new Conv2d({ inChannels: mid, outChannels: mid, kernelSize: 3, padding: 1, groups: mid, bias: false, seed: seed() }),
    );
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(mid));
    this.gconv2 = this.registerModule('gconv2', new Conv2d({ inChannels: mid, outChannels, kernelSize: 1, groups, bias: false, seed: seed() }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(outChannels));
    this.relu = this.registerModule('relu', new ReLU());
  }

  protected *graph(x: Tensor): Graph {
    let out = yield step(this.gconv1, x);
    out = yield step(this.bn1, out);
    out = yield step(this.relu, out);
    // Without the shuffle, gconv2's groups would only ever see gconv1's matching group.
    out = yield shuffleStep(out, this.groups);
    out = yield step(this.dwconv, out);
    out = yield step(this.bn2, out);
    out = yield step(this.gconv2, out);
    out = yield step(this.bn3, out);
    const sum = yield addStep(out, x);
    return yield step(this.relu, sum);
  }
}
