import { Conv2d } from '../layers/conv2d.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Linear, ReLU, Sequential } from '../layers/layers.js';
import type { Tensor } from '../tensor/tensor.js';
import { GroupedBottleneck } from './grouped-bottleneck.js';
import { checkOptions, layerSeeds, positiveInteger, step, flattenStep, ZooModel, type Graph } from './model.js';

export interface MiniGroupNetOptions {
  inChannels?: number;
  numClasses?: number;
  /** Groups of both stages' 3x3 convolutions. */
  groups?: number;
  seed?: number;
}

/**
 * The small classifier of seed 004: `stem` (3x3 conv to 64, BN, ReLU), two
 * GroupedBottleneck stages (64 -> 128 -> 256, stride 2 each), global average
 * pool, flatten, `fc` (Linear 256 -> numClasses).
 */
export class MiniGroupNet extends ZooModel {
  readonly stem: Sequential;
  readonly stage1: GroupedBottleneck;
  readonly stage2: GroupedBottleneck;
  readonly pool: AdaptiveAvgPool2d;
  readonly fc: Linear;
  protected readonly expectedInputChannels: number;

  constructor(options: MiniGroupNetOptions = {}) {
    super();
    const o = checkOptions('MiniGroupNet', options, ['inChannels', 'numClasses', 'groups', 'seed']);
    const inChannels = positiveInteger('inChannels', o.inChannels ?? 3);
    const numClasses = positiveInteger('numClasses', o.numClasses ?? 10);
    const groups = positiveInteger('groups', o.groups ?? 4);
    const seed = layerSeeds(o.seed);
    this.expectedInputChannels = inChannels;
    this.stem = this.registerModule(
      'stem',
      new Sequential(new Conv2d({ inChannels, outChannels: 64, kernelSize: 3, padding: 1, bias: false, seed: seed() }), new BatchNorm2d(64), new ReLU()),
    );
    this.stage1 = this.registerModule('stage1', new GroupedBottleneck({ inChannels: 64, outChannels: 128, groups, stride: 2, seed: seed() }));
    this.stage2 = this.registerModule('stage2', new GroupedBottleneck({ inChannels: 128, outChannels: 256, groups, stride: 2, seed: seed() }));
    this.pool = this.registerModule('pool', new AdaptiveAvgPool2d([1, 1]));
    this.fc = this.registerModule('fc', new Linear({ inFeatures: 256, outFeatures: numClasses, seed: seed() }));
  }

  protected *graph(x: Tensor): Graph {
    let out = yield step(this.stem, x);
    out = yield step(this.stage1, out);
    out = yield step(this.stage2, out);
    out = yield step(this.pool, out);
    const features = yield flattenStep(out, 1);
    return yield step(this.fc, features);
  }
}
