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
//   sigmoid    1 / (1 + exp(-x)), exp the epilogue's own float32 one (exp.ts:
//              WebAssembly has none; within 1 ulp of exp), so within a few ulp
//              of torch.sigmoid, not its bits
//   silu       x * sigmoid(x) (nn.SiLU; ONNX exports it as Mul(x, Sigmoid(x)))
//   hardsigmoid  max(0, min(1, alpha * x + beta)), ONNX's HardSigmoid; min
//              and max as clip's; alpha and beta rounded to float32 when the
//              activation is checked. The name alone is PyTorch's
//              nn.Hardsigmoid as ONNX exports it (alpha 1/6, beta 0.5)
import { errors } from '../errors.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import { expFloat32 } from './exp.js';
import {
  EPILOGUE_CLIP, EPILOGUE_HARDSIGMOID, EPILOGUE_HARDSWISH, EPILOGUE_NONE, EPILOGUE_RELU, EPILOGUE_SIGMOID, EPILOGUE_SILU,
} from './wasm/param-block.js';

/** The activations the epilogue fuses. ReLU6 is `{ kind: 'clip', min: 0, max: 6 }`. */
export type Activation =
  | { kind: 'none' }
  | { kind: 'relu' }
  | { kind: 'clip'; min: number; max: number }
  | { kind: 'hardswish' }
  | { kind: 'sigmoid' }
  | { kind: 'silu' }
  | { kind: 'hardsigmoid'; alpha: number; beta: number };

/** What callers may pass: an Activation, or the name of one ('hardsigmoid': alpha 1/6, beta 0.5, PyTorch's). */
export type ActivationOption = Activation | 'none' | 'relu' | 'hardswish' | 'sigmoid' | 'silu' | 'hardsigmoid';

export const ACTIVATION_KINDS = ['none', 'relu', 'clip', 'hardswish', 'sigmoid', 'silu', 'hardsigmoid'] as const;

/** nn.Hardsigmoid's parameters as torch.onnx exports them (HardSigmoid alpha = 1/6 as a float32, beta = 0.5). */
export const TORCH_HARDSIGMOID = Object.freeze({ alpha: Math.fround(1 / 6), beta: 0.5 });

export const NO_ACTIVATION: Activation = Object.freeze({ kind: 'none' });

/** Checks an activation option (`name` for the errors) and normalises it: clip's bounds rounded to float32. */
export function checkActivation(value: unknown, name = 'activation'): Activation {
  if (value === undefined) return NO_ACTIVATION;
  const kind = typeof value === 'string' ? value : typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : value;
  switch (kind) {
    case 'none':
    case 'relu':
    case 'hardswish':
    case 'sigmoid':
    case 'silu':
      return { kind };
    case 'hardsigmoid': {
      if (typeof value !== 'object') return { kind, ...TORCH_HARDSIGMOID };
      const { alpha = TORCH_HARDSIGMOID.alpha, beta = TORCH_HARDSIGMOID.beta } = value as { alpha?: unknown; beta?: unknown };
      if (typeof alpha !== 'number' || typeof beta !== 'number' || !Number.isFinite(alpha) || !Number.isFinite(beta)) {
        throw errors.hardSigmoidParameters(name, alpha, beta);
      }
      return { kind, alpha: Math.fround(alpha), beta: Math.fround(beta) };
    }
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

/** The activation's code and its two parameters in the parameter block (wasm/param-block.ts): clip's bounds, hardsigmoid's alpha and beta. */
export function activationCode(a: Activation): { code: number; min: number; max: number } {
  switch (a.kind) {
    case 'relu':
      return { code: EPILOGUE_RELU, min: 0, max: 0 };
    case 'clip':
      return { code: EPILOGUE_CLIP, min: a.min, max: a.max };
    case 'hardswish':
      return { code: EPILOGUE_HARDSWISH, min: 0, max: 0 };
    case 'sigmoid':
      return { code: EPILOGUE_SIGMOID, min: 0, max: 0 };
    case 'silu':
      return { code: EPILOGUE_SILU, min: 0, max: 0 };
    case 'hardsigmoid':
      return { code: EPILOGUE_HARDSIGMOID, min: a.alpha, max: a.beta };
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

/** The epilogue's sigmoid of a float32 value: 1 / (1 + exp(-x)), each operation rounded to float32, exp as exp.ts (`fusedExp`: its multiply-adds fused). */
export function sigmoidValue(x: number, fusedExp = false): number {
  return Math.fround(1 / Math.fround(1 + expFloat32(-x, fusedExp)));
}

/** The epilogue's SiLU of a float32 value: x * sigmoid(x), rounded to float32. */
export function siluValue(x: number, fusedExp = false): number {
  return Math.fround(x * sigmoidValue(x, fusedExp));
}

/** ONNX's HardSigmoid of a float32 value in float32 steps: max(0, min(1, alpha * x + beta)), min and max as clip's (NaN passes through). */
export function hardsigmoidValue(x: number, alpha: number, beta: number): number {
  const t = Math.fround(Math.fround(alpha * x) + beta);
  const y = 1 < t ? 1 : t;
  return y < 0 ? 0 : y;
}

/**
 * The reference epilogue over output elements [from, to): `+ residual` (the
 * same elements of it, or none), then the activation, in place. `fusedExp`:
 * the sigmoid's and SiLU's exp with its multiply-adds fused, as the
 * relaxed-SIMD build and the native kernels compute it (exp.ts), else as the
 * plain build does.
 */
export function applyEpilogue(output: Float32Array, residual: Float32Array | null, activation: Activation, from: number, to: number, fusedExp: boolean): void {
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
    case 'sigmoid':
      for (let i = from; i < to; i++) output[i] = sigmoidValue(output[i], fusedExp);
      return;
    case 'silu':
      for (let i = from; i < to; i++) output[i] = siluValue(output[i], fusedExp);
      return;
    case 'hardsigmoid': {
      const { alpha, beta } = activation;
      for (let i = from; i < to; i++) output[i] = hardsigmoidValue(output[i], alpha, beta);
      return;
    }
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
