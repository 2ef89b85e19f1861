// Runs AlexNet data-parallel on devices and on one device, alternating the
// two so a load that comes and goes weighs on both alike, and quotes medians
// of the timed passes (after warm-up: the first pass compiles and plans).
import { performance } from 'node:perf_hooks';
import type { AlexNet } from '../models/alexnet.js';
import { median } from '../statistics.js';
import { DataParallelAlexNet } from './data-parallel.js';
import { oneDeviceBaseline, randomImages } from './run-split.js';
import { alexNetInputSize, type SplitAlexNet } from './split-model.js';

export interface DataRunReport {
  devices: number;
  batch: number;
  /** Median wall time of a pass, data-parallel and on one device (ms). */
  wallMs: number;
  baseline: { wallMs: number; refused: string | null };
  speedup: number;
  /** Median of each round's one-device / data-parallel ratio. */
  speedupOfRatios: number;
  passes: { warmup: number; timed: number };
  logitsBitwiseEqual: boolean;
}

export async function runAlexNetData(options: {
  model: AlexNet;
  devices: number;
  batch: number;
  budgetBytes: number;
  repeat: number;
  warmup: number;
  seed: number;
  log?: (line: string) => void;
}): Promise<DataRunReport> {
  const { model, devices, batch, budgetBytes, repeat, warmup } = options;
  const log = options.log ?? (() => {});
  const x = randomImages(batch, alexNetInputSize(model.config.pooled), options.seed);

  const parallel = await DataParallelAlexNet.create(model, { devices, batch, budgetBytes });
  let single: SplitAlexNet | null = null;
  let refused: string | null = null;
  const walls: number[] = [];
  const singleWalls: number[] = [];
  let same = true;
  try {
    ({ single, refused } = await oneDeviceBaseline(model, batch, budgetBytes));
    for (let i = 0; i < warmup + repeat; i++) {
      const timed = i >= warmup;
      log(`${timed ? `pass ${i - warmup + 1} of ${repeat}` : `warm-up pass ${i + 1} of ${warmup}`}: ${devices} devices, then 1...`);
      let t = performance.now();
      const y = await parallel.forward(x);
      const wall = performance.now() - t;
      t = performance.now();
      const y1 = await single.forward(x);
      const singleWall = performance.now() - t;
      if (!timed) continue;
      walls.push(wall);
      singleWalls.push(singleWall);
      const a = new Uint32Array(y.data.buffer, y.data.byteOffset, y.data.length);
      const b = new Uint32Array(y1.data.buffer, y1.data.byteOffset, y1.data.length);
      for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) same = false;
    }
  } finally {
    await Promise.all([parallel.close(), single?.close()]);
  }
  return {
    devices,
    batch,
    wallMs: median(walls),
    baseline: { wallMs: median(singleWalls), refused },
    speedup: median(singleWalls) / median(walls),
    speedupOfRatios: median(walls.map((w, i) => singleWalls[i] / w)),
    passes: { warmup, timed: repeat },
    logitsBitwiseEqual: same,
  };
}
