import { conv2d } from '../ops/conv2d.js';
import { checkConvOptions, convFlops, outputShapeOf, resolveShapes, type Conv2dOptions, type Padding, type Pair } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { Random, uniformArray } from '../random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ConvRunner } from './conv-runner.js';
import { Module } from './module.js';

export interface Conv2dLayerOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  stride?: Pair;
  padding?: Padding;
  dilation?: Pair;
  groups?: number;
  /** Learnable bias, default true as in PyTorch. */
  bias?: boolean;
  /** Seed of the initialisation; layers built with the same seed get the same weights. */
  seed?: number;
}

let nextSeed = 1;

/** Like torch.nn.Conv2d: weight [Cout, Cin/groups, kH, kW], optional bias [Cout]. */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly options: Required<Conv2dOptions>;
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(options: Conv2dLayerOptions) {
    super();
    const { inChannels, outChannels, kernelSize, stride = 1, padding = 0, dilation = 1, groups = 1, bias = true } = options;
    for (const [name, value] of [
      ['inChannels', inChannels],
      ['outChannels', outChannels],
      ['groups', groups],
    ] as const) {
      if (!Number.isInteger(value) || value <= 0) throw errors.notPositiveInteger(name, value);
    }
    if (inChannels % groups !== 0) throw errors.channelsNotDivisible('inChannels', inChannels, groups);
    if (outChannels % groups !== 0) throw errors.channelsNotDivisible('outChannels', outChannels, groups);
    const k: [number, number] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    if (!Array.isArray(k) || k.length !== 2 || !k.every((v) => Number.isInteger(v) && v > 0)) {
      throw errors.notPositiveInteger('kernelSize', kernelSize);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = k;
    this.options = { stride, padding, dilation, groups };
    checkConvOptions(this.options); // fail at construction, not at the first forward

    // PyTorch's default: kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fanIn), 1/sqrt(fanIn)); the bias likewise.
    const random = new Random(options.seed ?? nextSeed++);
    const fanIn = (inChannels / groups) * k[0] * k[1];
    const bound = 1 / Math.sqrt(fanIn);
    const shape = this.weightShape();
    this.weight = { shape, data: uniformArray(random, shape.reduce((a, b) => a * b, 1), -bound, bound) };
    this.bias = bias ? { shape: [outChannels], data: uniformArray(random, outChannels, -bound, bound) } : null;
    this.registerParameter('weight', this.weight);
    this.registerParameter('bias', this.bias);
  }

  private weightShape(): number[] {
    return [this.outChannels, this.inChannels / this.options.groups, this.kernelSize[0], this.kernelSize[1]];
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }

  /** The same convolution through another runner, e.g. a GroupedConvEngine. */
  override async forwardWith(runner: ConvRunner, x: Tensor): Promise<Tensor> {
    return runner.conv2d(x, this.weight, this.bias, this.options);
  }

  outputShape(inputShape: number[]): number[] {
    return outputShapeOf(resolveShapes(inputShape, this.weight.shape, this.bias?.shape ?? null, this.options));
  }

  /** 2 x multiply-accumulates for an input of this shape (bias adds not counted). */
  flops(inputShape: number[]): number {
    return convFlops(resolveShapes(inputShape, this.weight.shape, this.bias?.shape ?? null, this.options).geometry);
  }
}
