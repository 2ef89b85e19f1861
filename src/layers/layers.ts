// Layers without convolutions, as torch.nn modules with PyTorch's parameter
// names and default initialisation.
import { errors } from '../errors.js';
import { relu } from '../ops/relu.js';
import { flatten } from '../ops/elementwise.js';
import { linear } from '../ops/linear.js';
import { batchNorm2d, localResponseNorm, type LocalResponseNormOptions } from '../ops/normalization.js';
import { adaptiveAvgPool2d, maxPool2d, type MaxPool2dOptions } from '../ops/pooling.js';
import { channelShuffle } from '../ops/channel-shuffle.js';
import { Random, uniformArray } from '../random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ConvRunner } from './conv-runner.js';
import { Module } from './module.js';

let nextSeed = 1_000_001;

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Inference semantics: dropout is the identity. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly options: MaxPool2dOptions) {
    super();
    maxPool2d({ shape: [1, 1, 64, 64], data: new Float32Array(4096) }, options); // check options now
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.options);
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | [number, number] = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

export class LocalResponseNorm extends Module {
  readonly options: Required<LocalResponseNormOptions>;
  constructor(size: number, alpha = 1e-4, beta = 0.75, k = 1) {
    super();
    if (!Number.isInteger(size) || size <= 0) throw errors.notPositiveInteger('size', size);
    this.options = { size, alpha, beta, k };
  }
  forward(x: Tensor): Tensor {
    return localResponseNorm(x, this.options);
  }
}

export class ChannelShuffle extends Module {
  constructor(readonly groups: number) {
    super();
    if (!Number.isInteger(groups) || groups <= 0) throw errors.notPositiveInteger('groups', groups);
  }
  forward(x: Tensor): Tensor {
    return channelShuffle(x, this.groups);
  }
}

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  seed?: number;
}

/** torch.nn.Linear: weight [out, in], bias [out], both U(-1/sqrt(in), 1/sqrt(in)) as PyTorch initialises them. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor({ inFeatures, outFeatures, bias = true, seed }: LinearOptions) {
    super();
    if (!Number.isInteger(inFeatures) || inFeatures <= 0) throw errors.notPositiveInteger('inFeatures', inFeatures);
    if (!Number.isInteger(outFeatures) || outFeatures <= 0) throw errors.notPositiveInteger('outFeatures', outFeatures);
    const random = new Random(seed ?? nextSeed++);
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = { shape: [outFeatures, inFeatures], data: uniformArray(random, outFeatures * inFeatures, -bound, bound) };
    this.bias = bias ? { shape: [outFeatures], data: uniformArray(random, outFeatures, -bound, bound) } : null;
    this.registerParameter('weight', this.weight);
    this.registerParameter('bias', this.bias);
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export interface BatchNorm2dOptions {
  eps?: number;
  affine?: boolean;
}

/** torch.nn.BatchNorm2d in inference mode: running statistics (mean 0, var 1 initially), weight 1, bias 0. */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly eps: number;
  constructor(readonly numFeatures: number, { eps = 1e-5, affine = true }: BatchNorm2dOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw errors.notPositiveInteger('numFeatures', numFeatures);
    this.eps = eps;
    this.weight = affine ? { shape: [numFeatures], data: new Float32Array(numFeatures).fill(1) } : null;
    this.bias = affine ? { shape: [numFeatures], data: new Float32Array(numFeatures) } : null;
    this.runningMean = { shape: [numFeatures], data: new Float32Array(numFeatures) };
    this.runningVar = { shape: [numFeatures], data: new Float32Array(numFeatures).fill(1) };
    this.registerParameter('weight', this.weight);
    this.registerParameter('bias', this.bias);
    this.registerBuffer('running_mean', this.runningMean);
    this.registerBuffer('running_var', this.runningVar);
  }
  forward(x: Tensor): Tensor {
    return batchNorm2d(x, { runningMean: this.runningMean, runningVar: this.runningVar, weight: this.weight, bias: this.bias, eps: this.eps });
  }
}

/** torch.nn.Sequential: children named '0', '1', ... so state_dict keys match PyTorch. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((layer, i) => this.registerModule(String(i), layer));
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, layer) => layer.forward(h), x);
  }
  override async forwardWith(runner: ConvRunner, x: Tensor): Promise<Tensor> {
    let h = x;
    for (const layer of this.layers) h = await layer.forwardWith(runner, h);
    return h;
  }
}
