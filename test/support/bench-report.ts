// A hand-made BenchReport for the report writers' tests: figures chosen so
// that every derived number (speedup, efficiency) is exact.
import { addSpeedups, type BenchReport, type PointResult, type Timeline } from '../../src/cli/bench.js';

const point = (groups: number, workers: number, policy: 'group' | 'balanced', medianMs: number): PointResult => ({
  layer: 'alexnet-conv2',
  batch: 8,
  groups,
  workers,
  policy,
  medianMs,
  minMs: medianMs * 0.9,
  maxMs: medianMs * 1.25,
  gflops: ((groups === 1 ? 7_166_361_600 : 3_583_180_800) / (medianMs * 1e6)),
  imagesPerSec: 8 / (medianMs / 1000),
  speedup: null,
  efficiency: null,
  imbalance: workers === 1 ? 1 : 1.05,
  overheadShare: 0.01 * workers,
  runs: 5,
});

const timeline: Timeline = {
  layer: 'alexnet-conv2',
  batch: 8,
  groups: 2,
  outChannels: 256,
  workers: 2,
  policy: 'group',
  wallMs: 500,
  tasks: [
    { task: 0, groupStart: 0, groupEnd: 1, outChannelStart: 0, outChannelEnd: 128, batchStart: 0, batchEnd: 8, macs: 895_795_200, threadId: 7, queueWaitMs: 0.5, computeMs: 480, startMs: 1, endMs: 481 },
    { task: 1, groupStart: 1, groupEnd: 2, outChannelStart: 128, outChannelEnd: 256, batchStart: 0, batchEnd: 8, macs: 895_795_200, threadId: 8, queueWaitMs: 0.25, computeMs: 490, startMs: 1.5, endMs: 491.5 },
  ],
};

export function sampleReport(): BenchReport {
  const results = addSpeedups([
    point(1, 1, 'balanced', 1000),
    point(1, 2, 'balanced', 500),
    point(1, 3, 'balanced', 625),
    point(2, 1, 'group', 800),
    point(2, 2, 'group', 500),
    point(2, 3, 'group', 400),
  ]);
  return {
    machine: { cpu: 'Test CPU <fast> & "cool"', cores: 2, node: 'v20.0.0', platform: 'linux', arch: 'x64', kernel: 'reference' },
    layers: [{ name: 'alexnet-conv2', description: 'AlexNet conv2', shape: '96 -> 256, 5x5, pad 2, 27x27 -> 27x27', kernel: 'reference' }],
    results,
    skipped: [{ layer: 'alexnet-conv2', batch: 8, groups: 3, reason: '256 output channels are not divisible by groups=3' }],
    timelines: [{ ...timeline, groups: 1, workers: 3, policy: 'balanced' }, timeline, { ...timeline, workers: 1 }],
  };
}
