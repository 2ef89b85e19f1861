// What the WebAssembly-build A/B scripts (planes-ab.ts, silu-ab.ts) share: a
// conv layer planned twice on the calling thread, once with this checkout's
// conv-fma.wasm and once with another build loaded as the 'simd' variant's
// module (no engine, so only this thread loads it), both sides planning the
// same microkernel; the two calls alternate round by round, and their outputs
// are compared bit for bit.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { errors } from '../../src/errors.js';
import { fullSlice, Random, resolveConv2d, type Conv2dOptions } from '../../src/index.js';
import type { Activation } from '../../src/kernels/epilogue.js';
import { configureKernels } from '../../src/kernels/options.js';
import { planConv, planScratchFloats, releasePlan, runPlan } from '../../src/kernels/plan/index.js';
import { hasWasmRelaxedSimd, WASM_URLS, type WasmVariant } from '../../src/kernels/wasm/runtime.js';
import { median } from '../../src/statistics.js';
import { perRoundRatios, rotated } from './rounds.js';

export interface WasmAbLayer {
  name: string;
  input: number[];
  weight: number[];
  options: Conv2dOptions;
}

const SIDES = { current: 'fma', baseline: 'simd' } as const satisfies Record<string, WasmVariant>;
type Side = keyof typeof SIDES;

/** Reads --baseline (the other conv-fma.wasm) and --rounds, and makes the baseline the 'simd' variant's module: before the first plan compiles it. */
export function wasmAbArgs(defaultRounds: number): { rounds: number } {
  const { values } = parseArgs({ options: { baseline: { type: 'string' }, rounds: { type: 'string', default: String(defaultRounds) } } });
  if (!values.baseline) throw errors.badFlag('--baseline', 'a conv-fma.wasm to compare with is required');
  if (!hasWasmRelaxedSimd()) throw errors.relaxedSimdMissing();
  WASM_URLS.simd = pathToFileURL(values.baseline);
  return { rounds: Number(values.rounds) };
}

const fill = (random: Random, n: number, scale: number) => Float32Array.from({ length: n }, () => random.normal() * scale);
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * `layer` (seeded input, weights scaled by `weightScale`, bias) with
 * `activation`, on both builds for `rounds` alternating rounds, each call timed
 * by `measure`. Returns the medians, the median per-round ratio baseline /
 * current, the microkernel planned and whether the outputs are the same bits.
 */
export async function compareBuilds(
  layer: WasmAbLayer,
  rounds: number,
  measure: (call: () => void) => number | Promise<number>,
  options: { activation?: Activation; weightScale: number },
): Promise<{ current: number; baseline: number; speedup: number; microkernel: string; same: boolean }> {
  const random = new Random(1);
  const input = fill(random, size(layer.input), 1);
  const weight = fill(random, size(layer.weight), options.weightScale);
  const bias = fill(random, layer.weight[0], 0.5);
  const g = resolveConv2d({ shape: layer.input, data: input }, { shape: layer.weight, data: weight }, { shape: [layer.weight[0]], data: bias }, layer.options).geometry;
  const runs = {} as Record<Side, { call: () => void; out: Float32Array; microkernel: string; close: () => void }>;
  for (const side of Object.keys(SIDES) as Side[]) {
    const previous = configureKernels({ wasmVariant: SIDES[side] });
    const plan = planConv(g, weight, null, options.activation);
    configureKernels(previous);
    const scratch = new Float32Array(planScratchFloats(plan));
    const out = new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
    const call = () => runPlan(plan, input, weight, bias, out, fullSlice(g), scratch);
    call(); // compiles and warms up
    runs[side] = { call, out, microkernel: plan.microkernel, close: () => releasePlan(plan) };
  }
  const ms: Record<Side, number[]> = { current: [], baseline: [] };
  for (let round = 0; round < rounds; round++) {
    for (const side of rotated(Object.keys(SIDES) as Side[], round)) ms[side].push(await measure(runs[side].call));
  }
  for (const run of Object.values(runs)) run.close();
  return {
    current: median(ms.current),
    baseline: median(ms.baseline),
    speedup: median(perRoundRatios(ms.baseline, ms.current)),
    microkernel: runs.current.microkernel,
    same: runs.current.out.every((v, i) => Object.is(v, runs.baseline.out[i])),
  };
}
