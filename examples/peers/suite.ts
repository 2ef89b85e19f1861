// The layer suite of issue #7 (batch 8, float32): the shapes where peers are
// strong (dense, groups=2) and where they collapse (small groups, depthwise).
import type { Conv2dOptions } from '../../src/index.js';

export interface SuiteLayer {
  name: string;
  input: [number, number, number, number];
  weight: [number, number, number, number];
  options: Required<Pick<Conv2dOptions, 'stride' | 'padding' | 'groups'>>;
}

const BATCH = 8;

function layer(name: string, cin: number, cout: number, k: number, size: number, stride: number, padding: number, groups: number): SuiteLayer {
  return { name, input: [BATCH, cin, size, size], weight: [cout, cin / groups, k, k], options: { stride, padding, groups } };
}

export const SUITE: SuiteLayer[] = [
  layer('alexnet_conv1', 3, 96, 11, 224, 4, 2, 1),
  layer('alexnet_conv2_g2', 96, 256, 5, 27, 1, 2, 2),
  layer('alexnet_conv2_g1', 96, 256, 5, 27, 1, 2, 1),
  layer('alexnet_conv4_g2', 384, 384, 3, 13, 1, 1, 2),
  layer('resnext_conv_g32', 128, 128, 3, 56, 1, 1, 32),
  layer('depthwise_3x3', 256, 256, 3, 28, 1, 1, 256),
  layer('shufflenet_pw_g8', 240, 240, 1, 28, 1, 0, 8),
  layer('dense_3x3', 256, 256, 3, 28, 1, 1, 1),
];

/** FLOPs of a layer, 2 x multiply-accumulates (bias adds not counted), as convFlops. */
export function layerFlops(l: SuiteLayer): number {
  const [n, , h, w] = l.input;
  const [cout, cinG, kh, kw] = l.weight;
  const { stride, padding } = l.options as { stride: number; padding: number };
  const ho = Math.floor((h + 2 * padding - kh) / stride) + 1;
  const wo = Math.floor((w + 2 * padding - kw) / stride) + 1;
  return 2 * n * cout * ho * wo * cinG * kh * kw;
}

/** Median seconds of `runs` timed calls after `warmup` untimed ones; async-capable. */
export async function medianSeconds(fn: () => unknown, warmup: number, runs: number): Promise<number> {
  return (await timeRuns(fn, warmup, runs)).median;
}

/** Median and fastest (least disturbed by other processes) of `runs` timed calls, in seconds. */
export async function timeRuns(fn: () => unknown, warmup: number, runs: number): Promise<{ median: number; best: number }> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], best: times[0] };
}
