import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm2d, ReLU, Sequential } from '../layers/layers.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkOptions, layerSeeds, positiveInteger, step, addStep, ZooModel, type Graph } from './model.js';

export interface ResNeXtBlockOptions {
  inChannels: number;
  /** Number of groups of the 3x3 convolution (C in the paper). */
  cardinality?: number;
  /** Channels per group (d in the paper); the block is cardinality x bottleneckWidth wide. */
  bottleneckWidth?: number;
  /** Seed of the initial weights (same seed, same weights). */
  seed?: number;
}

/**
 * ResNeXt's bottleneck block (seed 000): 1x1 down to cardinality x
 * bottleneckWidth channels, a 3x3 with groups = cardinality, 1x1 back up,
 * BatchNorm after each, residual add, ReLU. State_dict keys as PyTorch's
 * `conv.0.weight` ... `conv.7.running_var`.
 */
export class ResNeXtBlock extends ZooModel {
  readonly conv: Sequential;
  readonly relu: ReLU;
  readonly width: number;
  protected readonly expectedInputChannels: number;

  constructor(options: ResNeXtBlockOptions) {
    super();
    const o = checkOptions('ResNeXtBlock', options, ['inChannels', 'cardinality', 'bottleneckWidth', 'seed'], ['inChannels']);
    const inChannels = positiveInteger('inChannels', o.inChannels);
    const cardinality = positiveInteger('cardinality', o.cardinality ?? 32);
    const bottleneckWidth = positiveInteger('bottleneckWidth', o.bottleneckWidth ?? 4);
    const seed = layerSeeds(o.seed);
    const mid = cardinality * bottleneckWidth;
    this.width = mid;
    this.expectedInputChannels = inChannels;
    this.conv = this.registerModule(
      'conv',
      new Sequential(
        new Conv2d({ inChannels, outChannels: mid, kernelSize: 1, bias: false, seed: seed() }),
        new BatchNorm2d(mid),
        new ReLU(),
        new Conv2d({ inChannels: mid, outChannels: mid, kernelSize: 3, padding: 1, groups: cardinality, bias: false, seed: seed() }),
        new BatchNorm2d(mid),
        new ReLU(),
        new Conv2d({ inChannels: mid, outChannels: inChannels, kernelSize: 1, bias: false, seed: seed() }),
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
