// The convolution's epilogue: y = act(conv + bias [+ residual]), applied to
// output elements the microkernel has just stored (still in cache), so an
// activation and a residual add cost no separate pass over memory on another
// thread. The activation is the plan's (parameter block, ../param-block.ts);
// the residual, a tensor of the output's shape, is the call's (0: none).
//
// Bitwise contract with the JavaScript reference (src/kernels/epilogue.ts):
// the convolution's float32 result, then `+ residual` as one float32 add, then
// the activation as float32 operations in the same order:
//   relu       x < 0 ? +0 : x (so -0 and NaN keep their bits, as torch.relu)
//   clip       y = x < lo ? lo : x, then hi < y ? hi : y (PyTorch's scalar clamp,
//              std::min(std::max(x, lo), hi): NaN passes through, -0 stays -0
//              at lo = 0); f32x4.pmax / pmin are exactly these, one instruction
//              each on x64, where f32x4.max / min take several for IEEE's rules
//   hardswish  x * min(max(x + 3, 0), 6) / 6 (PyTorch's order of operations),
//              min and max as clip's (x + 3 is never -0, and NaN stays NaN)
//   sigmoid    1 / (1 + exp(-x)), exp the float32 one of exp.ts
//   silu       x * sigmoid(x)
//   hardsigmoid  max(0, min(1, alpha * x + beta)) (ONNX's HardSigmoid; lo, hi
//              carry alpha and beta), min and max as clip's
// Each is correctly rounded in WebAssembly as in JavaScript's Math.fround
// steps, so the fused and unfused results are the same bits.

import { EPILOGUE_CLIP, EPILOGUE_HARDSIGMOID, EPILOGUE_HARDSWISH, EPILOGUE_NONE, EPILOGUE_RELU, EPILOGUE_SIGMOID, EPILOGUE_SILU } from '../param-block';
import { expNegatedForSigmoid4 } from './exp';

@inline function sigmoid4(v: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, expNegatedForSigmoid4(v)));
}

/** The activation `kind` of four values (lo, hi: its two parameters, splatted: clip's bounds, hardsigmoid's alpha and beta). */
@inline export function activate(v: v128, kind: i32, lo: v128, hi: v128): v128 {
  if (kind == EPILOGUE_RELU) return v128.andnot(v, f32x4.lt(v, f32x4.splat(0)));
  // pmax(a, b) = a < b ? b : a; pmin(a, b) = b < a ? b : a.
  if (kind == EPILOGUE_CLIP) return f32x4.pmin(f32x4.pmax(v, lo), hi);
  if (kind == EPILOGUE_HARDSWISH) {
    const six = f32x4.splat(6);
    const gate = f32x4.pmin(f32x4.pmax(f32x4.add(v, f32x4.splat(3)), f32x4.splat(0)), six);
    return f32x4.div(f32x4.mul(v, gate), six);
  }
  if (kind == EPILOGUE_SIGMOID) return sigmoid4(v);
  if (kind == EPILOGUE_SILU) return f32x4.mul(v, sigmoid4(v));
  if (kind == EPILOGUE_HARDSIGMOID) {
    const t = f32x4.add(f32x4.mul(v, lo), hi);
    return f32x4.pmax(f32x4.pmin(t, f32x4.splat(1)), f32x4.splat(0));
  }
  return v;
}

/** One value through the vector path's operations (lane 0), so a scalar tail computes the bits a vector lane does. */
@inline export function epilogueScalar(x: f32, residual: usize, kind: i32, lo: v128, hi: v128): f32 {
  let v = f32x4.splat(x);
  if (residual) v = f32x4.add(v, v128.load32_splat(residual));
  return f32x4.extract_lane(activate(v, kind, lo, hi), 0);
}

/** The loop for one activation: `kind` is a constant here, so each copy has no branch on it. */
@inline function epilogueRun(out: usize, residual: usize, count: i32, kind: i32, lo: v128, hi: v128): void {
  let i = 0;
  // Two vectors at a time: sigmoid's and silu's long chains of dependent operations then overlap.
  for (; i + 8 <= count; i += 8) {
    const at = <usize>i << 2;
    let v = v128.load(out + at);
    let u = v128.load(out + at, 16);
    if (residual) {
      v = f32x4.add(v, v128.load(residual + at));
      u = f32x4.add(u, v128.load(residual + at, 16));
    }
    v128.store(out + at, activate(v, kind, lo, hi));
    v128.store(out + at, activate(u, kind, lo, hi), 16);
  }
  for (; i + 4 <= count; i += 4) {
    const at = <usize>i << 2;
    let v = v128.load(out + at);
    if (residual) v = f32x4.add(v, v128.load(residual + at));
    v128.store(out + at, activate(v, kind, lo, hi));
  }
  for (; i < count; i++) {
    const at = <usize>i << 2;
    store<f32>(out + at, epilogueScalar(load<f32>(out + at), residual ? residual + at : 0, kind, lo, hi));
  }
}

/**
 * Stores the first `lanes` (1-4) values of v at `ptr` through the epilogue, from
 * registers: `+ residual` read at ptr + resDelta when `res`, then the
 * activation. The lanes of a partial vector go through the scalar tail, so
 * nothing past the row is read.
 */
@inline export function storeFinished(ptr: usize, v: v128, lanes: i32, kind: i32, lo: v128, hi: v128, res: bool, resDelta: usize): void {
  if (lanes == 4) {
    let x = v;
    if (res) x = f32x4.add(x, v128.load(ptr + resDelta));
    v128.store(ptr, activate(x, kind, lo, hi));
    return;
  }
  for (let i = 0; i < lanes; i++) {
    const at = ptr + (<usize>i << 2);
    const value = i == 0 ? f32x4.extract_lane(v, 0) : i == 1 ? f32x4.extract_lane(v, 1) : f32x4.extract_lane(v, 2);
    store<f32>(at, epilogueScalar(value, res ? at + resDelta : 0, kind, lo, hi));
  }
}

/** Whether the plan's epilogue or the call's residual leaves anything to do. */
@inline export function hasEpilogue(kind: i32, residual: usize): bool {
  return kind != EPILOGUE_NONE || residual != 0;
}

/**
 * Applies the epilogue to `count` contiguous output floats at `out` (the
 * residual's matching floats at `residual`, or 0 for none), in place.
 */
export function epilogue(out: usize, residual: usize, count: i32, kind: i32, lo: f32, hi: f32): void {
  const lov = f32x4.splat(lo), hiv = f32x4.splat(hi);
  if (kind == EPILOGUE_RELU) epilogueRun(out, residual, count, EPILOGUE_RELU, lov, hiv);
  else if (kind == EPILOGUE_CLIP) epilogueRun(out, residual, count, EPILOGUE_CLIP, lov, hiv);
  else if (kind == EPILOGUE_HARDSWISH) epilogueRun(out, residual, count, EPILOGUE_HARDSWISH, lov, hiv);
  else if (kind == EPILOGUE_SIGMOID) epilogueRun(out, residual, count, EPILOGUE_SIGMOID, lov, hiv);
  else if (kind == EPILOGUE_SILU) epilogueRun(out, residual, count, EPILOGUE_SILU, lov, hiv);
  else if (kind == EPILOGUE_HARDSIGMOID) epilogueRun(out, residual, count, EPILOGUE_HARDSIGMOID, lov, hiv);
  else if (residual) epilogueRun(out, residual, count, EPILOGUE_NONE, lov, hiv);
}

/**
 * The epilogue of `channels` output planes of `plane` floats each, `planeBytes`
 * apart, from `out` (the residual's from `residual`, at the same offsets).
 */
export function epiloguePlanes(out: usize, residual: usize, channels: i32, plane: i32, planeBytes: usize, kind: i32, lo: f32, hi: f32): void {
  // Adjacent planes (an NCHW output's channels) are one run: small planes (7x7, or
  // squeeze-excitation's 1x1) then fill whole vectors instead of a scalar tail each.
  if (planeBytes == (<usize>plane << 2)) {
    epilogue(out, residual, channels * plane, kind, lo, hi);
    return;
  }
  for (let c = 0; c < channels; c++) {
    const at = <usize>c * planeBytes;
    epilogue(out + at, residual ? residual + at : 0, plane, kind, lo, hi);
  }
}
