// The benchmark sweep: every (layer, batch, groups) case at every (policy,
// workers) point, timed on the engine, turned into results a report can print.
import { cpus, availableParallelism } from 'node:os';
import type { MemoryPlanReport } from '../onnx/memory-plan.js';
import type { ConvProfile, TaskProfile } from '../engine/profile.js';
import { ArgumentError } from '../errors.js';
import { planConv, releasePlan } from '../kernels/plan/index.js';
import { Random } from '../random.js';
import { zeros, dispose, type Tensor } from '../tensor/tensor.js';
import type { PartitionPolicy } from '../scheduler/conv-tasks.js';
import type { BenchConfig } from './args.js';
import { maximum, median, medianIndex, minimum } from '../statistics.js';
import { silentProgress, type BenchProgress } from './progress.js';
import { sweep, type PreparedPoint, type SweepPoint } from './sweep.js';
import { convOptions, describeLayer, inputShape, layerFlops, layerGeometry, weightShape, type LayerPreset } from './presets.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  arch: string;
  /** The convolution kernel the engine runs (e.g. 'reference'), when known. */
  kernel: string | null;
}

export interface PointResult {
  layer: string;
  batch: number;
  /** The layer's groups; null for a whole model (its layers' groups are in the breakdown). */
  groups: number | null;
  workers: number;
  policy: PartitionPolicy;
  medianMs: number;
  minMs: number;
  maxMs: number;
  gflops: number;
  imagesPerSec: number;
  /** Against 1 worker with the same layer, batch, groups and policy; null when 1 worker was not measured. */
  speedup: number | null;
  efficiency: number | null;
  /** Busiest worker's busy time over the mean (1 = perfectly even). */
  imbalance: number;
  /** Share of the wall time not spent computing on the busiest worker. */
  overheadShare: number;
  /** Timed runs behind the figures. */
  runs: number;
}

export interface SkippedCase {
  layer: string;
  batch: number;
  /** The groups skipped; null when a whole model's batch was. */
  groups: number | null;
  reason: string;
}

export interface LayerInfo {
  name: string;
  description: string;
  shape: string;
  kernel: string | null;
}

/** The representative (median) run of one point, task by task. */
export interface Timeline {
  layer: string;
  batch: number;
  groups: number;
  outChannels: number;
  workers: number;
  policy: PartitionPolicy;
  wallMs: number;
  tasks: TaskProfile[];
}

/** One layer (execution step) of the model at one point: the per-layer breakdown, `layers` in the JSON. */
export interface LayerBreakdown {
  batch: number;
  policy: PartitionPolicy;
  workers: number;
  /** Position of the step in the model's execution. */
  index: number;
  name: string;
  opType: string;
  /** 'engine' (a Conv on the workers), 'ranged' (another op on the workers), 'alias' (a view: nothing ran) or 'host' (on the calling thread). */
  kind: 'engine' | 'ranged' | 'alias' | 'host';
  /** A Conv's groups; null for other ops. */
  groups: number | null;
  flops: number;
  /** Median over the timed runs of the step's wall time. */
  medianMs: number;
  /** Engine steps: median busiest-worker compute time and hand-off (wall minus that); null for host steps. */
  kernelMs: number | null;
  handoffMs: number | null;
  /** Against the same step at 1 worker (same batch and policy); null when 1 worker was not measured. */
  speedup: number | null;
}

export interface BenchReport {
  machine: MachineInfo;
  layers: LayerInfo[];
  results: PointResult[];
  skipped: SkippedCase[];
  timelines: Timeline[];
  /** `bench --model`: each layer of the model at each point (model-bench.ts). */
  breakdown?: LayerBreakdown[];
  /** `bench --model`: the memory plan of the model's activations at each batch (OnnxModel.memoryPlan). */
  memory?: Array<MemoryPlanReport & { batch: number }>;
  /** `bench --model --calling-thread`: forwards on one runner ran on the calling thread. */
  callingThread?: boolean;
}

export function machineInfo(kernel: string | null): MachineInfo {
  return {
    cpu: cpus()[0]?.model?.trim() || 'unknown CPU',
    cores: availableParallelism(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    kernel,
  };
}

interface Case {
  layer: LayerPreset;
  batch: number;
  groups: number;
  flops: number;
}

/** The (layer, batch, groups) cases of a config, and those that cannot exist (with the reason). */
export function planCases(config: BenchConfig): { cases: Case[]; skipped: SkippedCase[] } {
  const cases: Case[] = [];
  const skipped: SkippedCase[] = [];
  for (const layer of config.layers) {
    for (const batch of config.batches ?? [layer.batch]) {
      for (const groups of config.groups ?? layer.defaultGroups) {
        try {
          cases.push({ layer, batch, groups, flops: layerFlops(layer, groups, batch) });
        } catch (error) {
          if (!(error instanceof ArgumentError)) throw error;
          skipped.push({ layer: layer.name, batch, groups, reason: error.message.replace(/^groups: /, '') });
        }
      }
    }
  }
  return { cases, skipped };
}

/** Name of the kernel the plan picks for this geometry (the plan is released at once). */
function kernelKind(layer: LayerPreset, groups: number): string | null {
  try {
    const geometry = layerGeometry(layer, groups, 1);
    const plan = planConv(geometry, new Float32Array(weightShape(layer, groups).reduce((a, b) => a * b, 1)));
    releasePlan(plan);
    return plan.kind;
  } catch {
    return null;
  }
}

function randomShared(shape: number[], random: Random, scale: number): Tensor {
  const t = zeros(shape, { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = random.uniform(-scale, scale);
  return t;
}

interface CaseData {
  weight: Tensor;
  bias: Tensor;
  input: Tensor;
  /** One image, for the warm-up stand-in. */
  single: Tensor;
  out: Tensor;
  singleOut: Tensor;
}

function caseData(c: Case, seed: number): CaseData {
  const random = new Random(seed);
  const geometry = layerGeometry(c.layer, c.groups, c.batch);
  const fanIn = geometry.inChannelsPerGroup * geometry.kernelHeight * geometry.kernelWidth;
  const outShape = (batch: number) => [batch, geometry.outChannels, geometry.outHeight, geometry.outWidth];
  return {
    weight: randomShared(weightShape(c.layer, c.groups), random, 1 / Math.sqrt(fanIn)),
    bias: randomShared([geometry.outChannels], random, 1 / Math.sqrt(fanIn)),
    input: randomShared(inputShape(c.layer, c.batch), random, 1),
    single: randomShared(inputShape(c.layer, 1), random, 1),
    out: zeros(outShape(c.batch), { shared: true }),
    singleOut: zeros(outShape(1), { shared: true }),
  };
}

const pointLabel = (c: Case, workers: number, policy: PartitionPolicy) =>
  `${c.layer.name} batch ${c.batch} groups ${c.groups}, ${workers} worker${workers === 1 ? '' : 's'}, ${policy}`;

/** Fills in speedup and efficiency against the 1-worker point of the same layer, batch, groups and policy. */
export function addSpeedups(results: PointResult[]): PointResult[] {
  return results.map((r) => {
    const base = results.find((b) => b.workers === 1 && b.layer === r.layer && b.batch === r.batch && b.groups === r.groups && b.policy === r.policy);
    const speedup = base ? base.medianMs / r.medianMs : null;
    return { ...r, speedup, efficiency: speedup === null ? null : speedup / r.workers };
  });
}

function summarize(c: Case, workers: number, policy: PartitionPolicy, samples: Array<{ ms: number; value: ConvProfile }>): { result: PointResult; timeline: Timeline } {
  const times = samples.map((s) => s.ms);
  const medianMs = median(times);
  const representative = samples[medianIndex(times)].value;
  return {
    result: {
      layer: c.layer.name,
      batch: c.batch,
      groups: c.groups,
      workers,
      policy,
      medianMs,
      minMs: minimum(times),
      maxMs: maximum(times),
      gflops: c.flops / (medianMs * 1e6),
      imagesPerSec: c.batch / (medianMs / 1000),
      speedup: null,
      efficiency: null,
      imbalance: median(samples.map((s) => s.value.imbalance)),
      overheadShare: median(samples.map((s) => (s.value.wallMs > 0 ? s.value.dispatchOverheadMs / s.value.wallMs : 0))),
      runs: samples.length,
    },
    timeline: { layer: c.layer.name, batch: c.batch, groups: c.groups, outChannels: c.layer.outChannels, workers, policy, wallMs: representative.wallMs, tasks: representative.tasks },
  };
}

const sortKey = (layers: LayerPreset[], r: { layer: string; batch: number; groups: number | null; policy: PartitionPolicy; workers: number }) =>
  [layers.findIndex((l) => l.name === r.layer), r.batch, r.groups ?? 0, r.policy === 'group' ? 0 : 1, r.workers];

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/**
 * Runs the sweep. Engines are created once per (policy, workers) and started
 * before timing; each case's tensors live in shared memory so no call copies
 * its input, and every call writes into the same output.
 */
export async function runBench(config: BenchConfig, progress: BenchProgress = silentProgress): Promise<BenchReport> {
  const { cases, skipped } = planCases(config);
  const layers: LayerInfo[] = config.layers.map((layer) => {
    const firstGroups = cases.find((c) => c.layer === layer)?.groups ?? 1;
    return { name: layer.name, description: layer.description, shape: describeLayer(layer), kernel: kernelKind(layer, firstGroups) };
  });
  const kinds = [...new Set(layers.map((l) => l.kernel).filter((k): k is string => k !== null))];
  const machine = machineInfo(kinds.length > 0 ? kinds.join(', ') : null);

  const data = cases.map((c, i) => caseData(c, 1000 + i));
  const results: PointResult[] = [];
  const timelines: Timeline[] = [];
  try {
    const prepare = ({ engine, case: { c, d }, workers, policy }: SweepPoint<{ c: Case; d: CaseData }>): PreparedPoint<ConvProfile> => {
      const layer = engine.layer(d.weight, d.bias, convOptions(c.layer, c.groups));
      return {
        run: async () => (await layer.run(d.input, { profile: true, out: d.out })).profile,
        warmupProxy: c.batch > 1 ? { run: () => layer.run(d.single, { profile: true, out: d.singleOut }), scale: c.batch } : undefined,
        record: (measured) => {
          const { result, timeline } = summarize(c, workers, policy, measured.samples);
          results.push(result);
          timelines.push(timeline);
        },
        release: () => layer.close(),
      };
    };
    await sweep(config, cases.map((c, i) => ({ c, d: data[i] })), progress, ({ c }, workers, policy) => pointLabel(c, workers, policy), prepare);
  } finally {
    for (const d of data) dispose(d.weight, d.bias, d.input, d.single, d.out, d.singleOut);
  }
  results.sort((a, b) => compareKeys(sortKey(config.layers, a), sortKey(config.layers, b)));
  timelines.sort((a, b) => compareKeys(sortKey(config.layers, a), sortKey(config.layers, b)));
  return { machine, layers, results: addSpeedups(results), skipped, timelines };
}
