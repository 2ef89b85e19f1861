// Any model's split measured on devices against one device on the same batch:
// warm-up passes first (the first plans and compiles), then the split and the
// one device alternate, pass by pass, so a load that comes and goes weighs on
// both alike; the report quotes medians and whether the outputs are the same bits.
import { DeviceMemoryError } from '../errors.js';
import { median } from '../statistics.js';
import type { LinkModel, SplitPlan } from '../split/plan-types.js';
import type { StrategyChoice } from '../split/plan-split.js';
import type { Tensor } from '../tensor/tensor.js';
import { Random } from '../random.js';
import { ModelDevices, type DeviceStrategy, type ModelRun } from './model-devices.js';
import type { ModelSource } from './model-source.js';

export interface ModelRunReport {
  model: string;
  strategy: DeviceStrategy;
  devices: number;
  batch: number;
  inputShape: number[];
  /** Median wall time of the timed passes (ms). */
  wallMs: number;
  passes: { warmup: number; timed: number };
  /** The plan's simulated time of the pass, next to the measured wallMs. */
  simulatedMs: number;
  /** Pipeline: the share of device time idle, as planned and as measured (the median pass's). */
  bubble: { planned: number | null; measured: number };
  /** The median pass's per-unit and per-device figures. */
  run: ModelRun;
  /** Per device: the plan's peak bytes, the weights it holds, and what its thread measured. */
  memory: { device: number; plannedBytes: number; weightBytes: number; heapUsedBytes: number; arenaPeakBytes: number }[];
  baseline: { wallMs: number; refused: string | null } | null;
  speedup: number | null;
  roundSpeedups: number[] | null;
  outputBitwiseEqual: boolean | null;
  outputMaxAbsDiff: number | null;
}

export interface RunModelOptions {
  source: ModelSource;
  devices: number;
  strategy: StrategyChoice;
  batch: number;
  inputShape?: readonly number[];
  budgetBytes?: number;
  link?: Partial<LinkModel>;
  microBatches?: number;
  repeat: number;
  warmup: number;
  seed: number;
  baseline: boolean;
  log?: (line: string) => void;
}

/** Seeded images in [-1, 1). */
export function randomInput(shape: readonly number[], seed: number): Tensor {
  const random = new Random(seed);
  const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
  for (let i = 0; i < data.length; i++) data[i] = random.uniform(-1, 1);
  return { shape: [...shape], data };
}

function compare(a: Tensor, b: Tensor): { equal: boolean; maxAbsDiff: number } {
  const x = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const y = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  let equal = x.length === y.length;
  let maxAbsDiff = 0;
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) equal = false;
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a.data[i] - b.data[i]));
  }
  return { equal, maxAbsDiff };
}

/** One device, whole model, whole batch: under the budget if it fits, else with the budget lifted and the refusal kept. */
async function oneDevice(options: RunModelOptions): Promise<{ single: ModelDevices; refused: string | null }> {
  const base = { devices: 1, strategy: 'data' as const, batch: options.batch, ...(options.inputShape ? { inputShape: options.inputShape } : {}) };
  try {
    return { single: await ModelDevices.create(options.source, { ...base, ...(options.budgetBytes !== undefined ? { budgetBytes: options.budgetBytes } : {}) }), refused: null };
  } catch (error) {
    if (!(error instanceof DeviceMemoryError)) throw error;
    return { single: await ModelDevices.create(options.source, base), refused: error.message };
  }
}

export async function runModelSplit(options: RunModelOptions): Promise<{ report: ModelRunReport; plan: SplitPlan }> {
  const log = options.log ?? (() => {});
  const split = await ModelDevices.create(options.source, {
    devices: options.devices,
    strategy: options.strategy,
    batch: options.batch,
    ...(options.inputShape ? { inputShape: options.inputShape } : {}),
    ...(options.budgetBytes !== undefined ? { budgetBytes: options.budgetBytes } : {}),
    ...(options.link ? { link: options.link } : {}),
    ...(options.microBatches !== undefined ? { microBatches: options.microBatches } : {}),
  });
  let single: ModelDevices | null = null;
  let refused: string | null = null;
  const plan = split.plan;
  const x = randomInput([options.batch, ...plan.inputShape], options.seed);
  const runs: ModelRun[] = [];
  const singleWalls: number[] = [];
  let equal: boolean | null = null;
  let maxAbsDiff: number | null = null;
  try {
    if (options.baseline) ({ single, refused } = await oneDevice(options));
    const D = options.devices;
    for (let i = 0; i < options.warmup + options.repeat; i++) {
      const timed = i >= options.warmup;
      log(`${timed ? `pass ${i - options.warmup + 1} of ${options.repeat}` : `warm-up pass ${i + 1} of ${options.warmup}`}: ${D} device${D > 1 ? 's' : ''}${single ? ', then 1' : ''}...`);
      const { output, run } = await split.forward(x);
      const baseline = single ? await single.forward(x) : null;
      if (!timed) continue;
      runs.push(run);
      if (baseline) {
        singleWalls.push(baseline.run.wallMs);
        const c = compare(output, baseline.output);
        equal = (equal ?? true) && c.equal;
        maxAbsDiff = Math.max(maxAbsDiff ?? 0, c.maxAbsDiff);
      }
    }
    const stats = await split.stats();
    const walls = runs.map((r) => r.wallMs);
    const wallMs = median(walls);
    // The median pass's figures (the one closest to the median wall time).
    const run = runs.reduce((best, r) => (Math.abs(r.wallMs - wallMs) < Math.abs(best.wallMs - wallMs) ? r : best));
    const singleMs = singleWalls.length ? median(singleWalls) : null;
    const report: ModelRunReport = {
      model: plan.model,
      strategy: split.strategy,
      devices: D,
      batch: options.batch,
      inputShape: [...plan.inputShape],
      wallMs,
      passes: { warmup: options.warmup, timed: options.repeat },
      simulatedMs: plan.simulated.ms,
      bubble: { planned: plan.pipeline?.bubble ?? null, measured: run.bubble },
      run,
      memory: stats.map((s, d) => ({
        device: d,
        plannedBytes: plan.memory[d].totalBytes,
        weightBytes: s.weightBytes,
        heapUsedBytes: s.heapUsedBytes,
        arenaPeakBytes: s.arena.peakBytes,
      })),
      baseline: singleMs === null ? null : { wallMs: singleMs, refused },
      speedup: singleMs === null ? null : singleMs / wallMs,
      roundSpeedups: singleMs === null ? null : walls.map((w, i) => singleWalls[i] / w),
      outputBitwiseEqual: equal,
      outputMaxAbsDiff: maxAbsDiff,
    };
    return { report, plan };
  } finally {
    await Promise.all([split.close(), single?.close()]);
  }
}
