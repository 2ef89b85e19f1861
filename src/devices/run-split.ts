// Runs AlexNet split over devices and over one device on the same batch, and
// gathers what the report shows. Used by the CLI (`groupconv alexnet`) and the example.
import { DeviceMemoryError } from '../errors.js';
import { AlexNet, alexNetParameterCount } from '../models/alexnet.js';
import { Random } from '../random.js';
import { median } from '../statistics.js';
import type { Tensor } from '../tensor/tensor.js';
import { deviceWeightTotals, type SplitReport } from './report.js';
import { alexNetInputSize, GTX580_BYTES, SplitAlexNet, type SplitRun } from './split-model.js';

export interface RunSplitOptions {
  /** The model; default the paper's AlexNet with seeded random weights. */
  model?: AlexNet;
  devices?: number;
  batch?: number;
  budgetBytes?: number;
  linkGbps?: number;
  /** Simulated per-transfer latency in microseconds (default 0). */
  linkLatencyUs?: number;
  /** Timed forward passes per device count; the report quotes the median. Default 3. */
  repeat?: number;
  /**
   * Untimed passes first, per device count. Default 1: a first pass includes
   * compiling the kernels and planning every layer on every device, which at
   * batch 8 made 2 devices look slower than 1 (0.51x, against 1.61x warm).
   */
  warmup?: number;
  /** Also run one device on the same batch, for the speedup. Default true when devices > 1. */
  baseline?: boolean;
  /** Seed of the random input batch. */
  seed?: number;
  /** Called with progress lines (which run is going on). */
  log?: (line: string) => void;
}

/** A seeded batch of images, values in [-1, 1), as after normalisation. */
export function randomImages(batch: number, size: number, seed = 1): Tensor {
  const random = new Random(seed);
  const data = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < data.length; i++) data[i] = random.uniform(-1, 1);
  return { shape: [batch, 3, size, size], data };
}

/**
 * The one-device run a split is compared with. When one device cannot hold the
 * model under the budget (AlexNet's story), the refusal is kept for the report
 * and the budget lifted, so the speedup can still be measured.
 */
export async function oneDeviceBaseline(model: AlexNet, batch: number, budgetBytes: number): Promise<{ single: SplitAlexNet; refused: string | null }> {
  try {
    return { single: await SplitAlexNet.create(model, { devices: 1, batch, budgetBytes }), refused: null };
  } catch (error) {
    if (!(error instanceof DeviceMemoryError)) throw error;
    return { single: await SplitAlexNet.create(model, { devices: 1, batch, budgetBytes: Infinity }), refused: error.message };
  }
}

/** Loads the split (refused if it does not fit), runs it, and the one-device baseline. Closes every device it starts. */
export async function runAlexNetSplit(options: RunSplitOptions = {}): Promise<SplitReport> {
  const model = options.model ?? new AlexNet();
  const devices = options.devices ?? 2;
  const batch = options.batch ?? 8;
  const budgetBytes = options.budgetBytes ?? GTX580_BYTES;
  const repeat = options.repeat ?? 3;
  const warmup = options.warmup ?? 1;
  const log = options.log ?? (() => {});
  const inputSize = alexNetInputSize(model.config.pooled);
  const x = randomImages(batch, inputSize, options.seed ?? 1);

  const split = await SplitAlexNet.create(model, { devices, batch, budgetBytes, linkGbps: options.linkGbps, linkLatencyUs: options.linkLatencyUs });
  let single: SplitAlexNet | null = null;
  let refused: string | null = null;
  const walls: number[] = [];
  const baselineWalls: number[] = [];
  let logits!: Tensor;
  let baselineLogits: Tensor | null = null;
  let baselineRun: SplitRun | null = null;
  try {
    if ((options.baseline ?? devices > 1) && devices !== 1) {
      ({ single, refused } = await oneDeviceBaseline(model, batch, budgetBytes));
    }
    // Alternate the split and the one-device runs, so a load that comes and goes
    // on a shared machine weighs on both alike.
    for (let i = 0; i < warmup; i++) {
      log(`warm-up pass ${i + 1} of ${warmup}...`);
      await split.forward(x);
      await single?.forward(x);
    }
    for (let i = 0; i < repeat; i++) {
      log(`pass ${i + 1} of ${repeat}: ${devices} device${devices > 1 ? 's' : ''}...`);
      logits = await split.forward(x);
      walls.push(split.lastRun!.wallMs);
      if (single) {
        log(`pass ${i + 1} of ${repeat}: 1 device...`);
        baselineLogits = await single.forward(x);
        baselineWalls.push(single.lastRun!.wallMs);
        baselineRun = single.lastRun!;
      }
    }
  } finally {
    await Promise.all([split.close(), single?.close()]);
  }
  const main = { wallMs: median(walls), run: split.lastRun!, logits };
  const baseline: SplitReport['baseline'] = baselineRun ? { wallMs: median(baselineWalls), run: baselineRun, refused } : null;

  let maxDiff: number | null = null;
  let bitwise: boolean | null = null;
  if (baselineLogits) {
    maxDiff = 0;
    bitwise = true;
    const a = new Uint32Array(main.logits.data.buffer, main.logits.data.byteOffset, main.logits.data.length);
    const b = new Uint32Array(baselineLogits.data.buffer, baselineLogits.data.byteOffset, baselineLogits.data.length);
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) bitwise = false;
      maxDiff = Math.max(maxDiff, Math.abs(main.logits.data[i] - baselineLogits.data[i]));
    }
  }
  return {
    model: { parameters: alexNetParameterCount(model.config), channels: [...model.config.channels], hidden: model.config.hidden, classes: model.config.classes },
    batch,
    inputSize,
    budgetBytes,
    linkGbps: options.linkGbps ?? null,
    wallMs: main.wallMs,
    passes: { warmup, timed: repeat },
    run: main.run,
    deviceWeights: deviceWeightTotals(split.pieces),
    baseline,
    speedup: baseline ? baseline.wallMs / main.wallMs : null,
    roundSpeedups: baseline ? walls.map((wall, i) => baselineWalls[i] / wall) : null,
    logitsMaxAbsDiff: maxDiff,
    logitsBitwiseEqual: bitwise,
  };
}
