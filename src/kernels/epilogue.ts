// The convolution's epilogue, y = act(conv + bias [+ residual]), as the
// TypeScript side sees it: the activations a plan can fuse, their check, their
// codes in the parameter block, and the JavaScript reference that defines
// their bits (the WebAssembly microkernels compute the same ones:
// wasm/assembly/epilogue.ts).
//
// Bits: the convolution's float32 output, then `+ residual` rounded to
// float32, then the activation in float32, each step correctly rounded:
//   relu       negatives become +0; -0 and NaN keep their bits (torch.relu)
//   clip       y = x < min ? min : x, then max < y ? max : y: PyTorch's scalar
//              clamp (std::min(std::max(x, lo), hi)), so NaN passes through and
//              -0 stays -0 at min = 0; min and max are rounded to float32 when
//              the activation is checked
//   hardswish  x * min(max(x + 3, 0), 6) / 6, PyTorch's order of operations
// Sigmoid is not fused: WebAssembly has no exp, and a polynomial shared by the
// kernel and the reference is not cheap enough for "where cheap".
import { errors } from '../errors.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import { EPILOGUE_CLIP, EPILOGUE_HARDSWISH, EPILOGUE_NONE, EPILOGUE_RELU } from './wasm/param-block.js';

/** The activations the epilogue fuses. ReLU6 is `{ kind: 'clip', min: 0, max: 6 }`. */
export type Activation = { kind: 'none' } | { kind: 'relu' } | { kind: 'clip'; min: number; max: number } | { kind: 'hardswish' };

/** What callers may pass: an Activation, or the name of one without parameters. */
export type ActivationOption = Activation | 'none' | 'relu' | 'hardswish';

export const ACTIVATION_KINDS = ['none', 'relu', 'clip', 'hardswish'] as const;

export const NO_ACTIVATION: Activation = Object.freeze({ kind: 'none' });

/** Checks an activation option (`name` for the errors) and normalises it: clip's bounds rounded to float32. */
export function checkActivation(value: unknown, name = 'activation'): Activation {
  if (value === undefined) return NO_ACTIVATION;
  const kind = typeof value === 'string' ? value : typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : value;
  switch (kind) {
    case 'none':
    case 'relu':
    case 'hardswish':
      return { kind };
    case 'clip': {
      if (typeof value !== 'object') throw errors.clipBounds(name, undefined, undefined);
      const { min, max } = value as { min?: unknown; max?: unknown };
      if (typeof min !== 'number' || typeof max !== 'number' || Number.isNaN(min) || Number.isNaN(max) || min > max) {
        throw errors.clipBounds(name, min, max);
      }
      return { kind, min: Math.fround(min), max: Math.fround(max) };
    }
    default:
      throw errors.unknownActivation(name, kind === undefined ? value : kind, ACTIVATION_KINDS);
  }
}

/** The activation's code and bounds in the parameter block (wasm/param-block.ts). */
export function activationCode(a: Activation): { code: number; min: number; max: number } {
  switch (a.kind) {
    case 'relu':
      return { code: EPILOGUE_RELU, min: 0, max: 0 };
    case 'clip':
      return { code: EPILOGUE_CLIP, min: a.min, max: a.max };
    case 'hardswish':
      return { code: EPILOGUE_HARDSWISH, min: 0, max: 0 };
    default:
      return { code: EPILOGUE_NONE, min: 0, max: 0 };
  }
}

/** torch.relu of one float32, on its bits: a negative becomes +0; -0 and NaN pass unchanged (src/ops/relu.ts). */
function reluBits(bits: number): number {
  return bits === -0x80000000 || (bits & 0x7fffffff) > 0x7f800000 ? bits : bits & ~(bits >> 31);
}

/** clip of a float32 value as std::min(std::max(x, lo), hi): NaN passes through, -0 stays -0 at lo = 0. */
export function clipValue(x: number, lo: number, hi: number): number {
  const y = x < lo ? lo : x;
  return hi < y ? hi : y;
}

/** PyTorch's hardswish of a float32 value, each operation rounded to float32: x * min(max(x + 3, 0), 6) / 6. */
export function hardswishValue(x: number): number {
  const gate = clipValue(Math.fround(x + 3), 0, 6);
  return Math.fround(Math.fround(x * gate) / 6);
}

/**
 * The reference epilogue over output elements [from, to): `+ residual` (the
 * same elements of it, or none), then the activation, in place.
 */
export function applyEpilogue(output: Float32Array, residual: Float32Array | null, activation: Activation, from: number, to: number): void {
  if (residual) for (let i = from; i < to; i++) output[i] = output[i] + residual[i];
  switch (activation.kind) {
    case 'relu': {
      const bits = new Int32Array(output.buffer, output.byteOffset, output.length);
      for (let i = from; i < to; i++) bits[i] = reluBits(bits[i]);
      return;
    }
    case 'clip':
      for (let i = from; i < to; i++) output[i] = clipValue(output[i], activation.min, activation.max);
      return;
    case 'hardswish':
      for (let i = from; i < to; i++) output[i] = hardswishValue(output[i]);
      return;
    default:
      return;
  }
}

/** `residual` is a tensor of the output's shape. */
export function checkResidual(residual: unknown, outputShape: number[]): Tensor {
  const r = checkTensor('residual', residual);
  if (r.shape.length !== outputShape.length || r.shape.some((d, i) => d !== outputShape[i])) {
    throw errors.residualShape('residual.shape', outputShape, r.shape);
  }
  return r;
}
