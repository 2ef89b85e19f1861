// Shared machinery of the model zoo: each model describes its forward pass
// once, as a generator that yields every step — a child module on an input, or
// an inline operation (residual add, channel shuffle, flatten) — and that one
// description runs synchronously (forward), with every convolution sent to a
// runner such as the GroupedConvEngine (forwardWith), and is read as a graph
// by the split planner (src/split/from-modules.ts). Keeping a single
// description is what guarantees the paths compute and describe the same thing.
import { errors } from '../errors.js';
import type { ConvRunner } from '../layers/conv-runner.js';
import { Module } from '../layers/module.js';
import { channelShuffle } from '../ops/channel-shuffle.js';
import { add, flatten } from '../ops/elementwise.js';
import { Random } from '../random.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';

/** One step of a model's forward pass: a child module on an input, or an inline operation. */
export type Step =
  | { kind: 'module'; module: Module; input: Tensor }
  | { kind: 'add'; inputs: [Tensor, Tensor] }
  | { kind: 'channelShuffle'; input: Tensor; groups: number }
  | { kind: 'flatten'; input: Tensor; startDim: number };

export const step = (module: Module, input: Tensor): Step => ({ kind: 'module', module, input });
/** a + b (the residual add) as a step. */
export const addStep = (a: Tensor, b: Tensor): Step => ({ kind: 'add', inputs: [a, b] });
export const shuffleStep = (input: Tensor, groups: number): Step => ({ kind: 'channelShuffle', input, groups });
export const flattenStep = (input: Tensor, startDim = 1): Step => ({ kind: 'flatten', input, startDim });

/** An inline operation's result (module steps are run by the caller, on this thread or with a runner). */
function runOp(s: Exclude<Step, { kind: 'module' }>): Tensor {
  switch (s.kind) {
    case 'add':
      return add(s.inputs[0], s.inputs[1]);
    case 'channelShuffle':
      return channelShuffle(s.input, s.groups);
    case 'flatten':
      return flatten(s.input, s.startDim);
  }
}

/** The forward pass as steps; each `yield step(m, x)` evaluates to m's output. */
export type Graph = Generator<Step, Tensor, Tensor>;

export abstract class ZooModel extends Module {
  /** Channels the input must have (checked before anything runs). */
  protected abstract readonly expectedInputChannels: number;

  protected abstract graph(x: Tensor): Graph;

  /**
   * The forward pass's description, step by step, for readers other than
   * forward and forwardWith (the split planner feeds it placeholder tensors).
   */
  steps(x: Tensor): Graph {
    return this.graph(x);
  }

  private checkInput(x: Tensor): void {
    checkTensor('x', x, [4]);
    if (x.shape[1] !== this.expectedInputChannels) {
      throw errors.invalid('x.shape', `${this.constructor.name} expects [N, ${this.expectedInputChannels}, H, W], got [${x.shape.join(', ')}]`);
    }
  }

  /** The forward pass on this thread. */
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const graph = this.graph(x);
    let next = graph.next();
    while (!next.done) {
      const s = next.value;
      next = graph.next(s.kind === 'module' ? s.module.forward(s.input) : runOp(s));
    }
    return next.value;
  }

  /**
   * The same forward pass with every convolution run by `runner` (e.g. a
   * GroupedConvEngine); everything else runs on this thread.
   */
  override async forwardWith(runner: ConvRunner, x: Tensor): Promise<Tensor> {
    if (runner === null || typeof runner !== 'object' || typeof runner.conv2d !== 'function') {
      throw errors.invalid('runner', 'expected an object with a conv2d(input, weight, bias, options) method, e.g. a GroupedConvEngine');
    }
    this.checkInput(x);
    const graph = this.graph(x);
    let next = graph.next();
    while (!next.done) {
      const s = next.value;
      next = graph.next(s.kind === 'module' ? await s.module.forwardWith(runner, s.input) : runOp(s));
    }
    return next.value;
  }
}

/** Checks a model's options object: no unknown keys, positive integers where integers are expected. */
export function checkOptions<T extends object>(model: string, options: T | undefined, known: readonly string[], required: readonly string[] = []): T {
  if (options === undefined && required.length === 0) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw errors.invalid('options', `${model} expects an options object { ${known.join(', ')} }, got ${options === null ? 'null' : typeof options}`);
  }
  for (const key of Object.keys(options)) if (!known.includes(key)) throw errors.unknownOption('options', key, known);
  for (const key of required) if ((options as Record<string, unknown>)[key] === undefined) throw errors.invalid(key, `${model} requires the option '${key}'`);
  return options;
}

export function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw errors.notPositiveInteger(name, value);
  return value;
}

export function divisible(name: string, channels: number, groups: number, what: string): void {
  if (channels % groups !== 0) throw errors.invalid(name, `${what} (${channels} channels) is not divisible by groups=${groups}`);
}

/**
 * Seeds for a model's layers: from `seed` when given (the same seed builds
 * the same weights), otherwise undefined so each layer draws its own.
 */
export function layerSeeds(seed: number | undefined): () => number | undefined {
  if (seed === undefined) return () => undefined;
  if (!Number.isInteger(seed)) throw errors.invalid('seed', `must be an integer, got ${seed}`);
  const random = new Random(seed);
  return () => random.nextUint32();
}

/** Python's round(): halves go to the even neighbour (round(4.5) == 4), unlike Math.round. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
