// `groupconv bench --model FILE.onnx`: the whole model, timed through
// forwardWith on the engine at each (policy, workers) point and batch, with a
// per-layer breakdown from the model's profile (which layers scale, which do not).
import { basename } from 'node:path';
import { errors } from '../errors.js';
import type { ModelProfile } from '../onnx/engine-run.js';
import { loadOnnx } from '../onnx/load.js';
import type { OnnxModel } from '../onnx/model.js';
import { Random } from '../random.js';
import type { PartitionPolicy } from '../scheduler/conv-tasks.js';
import { maximum, median, minimum } from '../statistics.js';
import { dispose, zeros, type Tensor } from '../tensor/tensor.js';
import type { BenchConfig } from './args.js';
import { addSpeedups, machineInfo, type BenchReport, type LayerBreakdown, type PointResult, type SkippedCase } from './bench.js';
import { silentProgress, type BenchProgress } from './progress.js';
import { sweep, type PreparedPoint, type SweepPoint } from './sweep.js';

/** The model's input shape at `batch`: symbolic height and width take `size`. */
export function modelInputShape(model: OnnxModel, batch: number, size: number | null): number[] {
  const declared = model.inputs[0].shape;
  if (!declared) throw errors.badFlag('--model', `the model's input '${model.inputs[0].name}' has no declared shape`);
  return declared.map((d, i) => {
    if (i === 0) return batch;
    if (typeof d === 'number') return d;
    if (size === null) throw errors.badFlag('--size', `the model's input dimension ${i} is symbolic ('${d}'): give its size with --size`);
    return size;
  });
}

function randomShared(shape: number[], seed: number): Tensor {
  const random = new Random(seed);
  const t = zeros(shape, { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = random.uniform(-1, 1);
  return t;
}

const pointLabel = (name: string, batch: number, workers: number, policy: PartitionPolicy) =>
  `${name} batch ${batch}, ${workers} worker${workers === 1 ? '' : 's'}, ${policy}`;

/** Sums a profile's engine steps into the layer bench's imbalance and overhead figures. */
function engineTotals(p: ModelProfile): { imbalance: number; overheadShare: number } {
  let busiest = 0;
  let mean = 0;
  let handoff = 0;
  for (const s of p.steps) {
    if (!s.engine) continue;
    busiest += s.engine.kernelMs;
    mean += s.engine.imbalance > 0 ? s.engine.kernelMs / s.engine.imbalance : 0;
    handoff += s.engine.handoffMs;
  }
  return { imbalance: mean > 0 ? busiest / mean : 1, overheadShare: p.totalMs > 0 ? handoff / p.totalMs : 0 };
}

function addLayerSpeedups(rows: LayerBreakdown[]): LayerBreakdown[] {
  return rows.map((r) => {
    const base = rows.find((b) => b.workers === 1 && b.batch === r.batch && b.policy === r.policy && b.index === r.index);
    return { ...r, speedup: base && r.medianMs > 0 ? base.medianMs / r.medianMs : null };
  });
}

/**
 * Loads the model (an OnnxError, an ArgumentError, if it cannot be: exit 2) and
 * times it at every (policy, workers, batch) point. Batches the model cannot
 * take (a fixed batch dimension) are skipped with the reason.
 */
export async function runModelBench(config: BenchConfig & { model: string }, progress: BenchProgress = silentProgress): Promise<BenchReport> {
  const model = loadOnnx(config.model);
  const name = basename(config.model).replace(/\.onnx$/i, '');
  const declaredBatch = model.inputs[0].shape?.[0];
  const batches = config.batches ?? [typeof declaredBatch === 'number' ? declaredBatch : 1];
  const skipped: SkippedCase[] = [];
  const cases: { batch: number; shape: number[] }[] = [];
  for (const batch of batches) {
    if (typeof declaredBatch === 'number' && batch !== declaredBatch) {
      skipped.push({ layer: name, batch, groups: null, reason: `the model's batch dimension is fixed at ${declaredBatch}` });
      continue;
    }
    cases.push({ batch, shape: modelInputShape(model, batch, config.size) });
  }
  // The plans (shapes, folded constants) come from a run on the calling thread over zeros, before any timing:
  // a model that cannot run at this shape fails here, before engines start.
  for (const c of cases) model.planFor({ [model.inputs[0].name]: c.shape });
  const memory = cases.map((c) => ({ batch: c.batch, ...model.memoryPlan(c.shape) }));
  const inputs = cases.map((c, i) => randomShared(c.shape, 1000 + i));
  const results: PointResult[] = [];
  const breakdown: LayerBreakdown[] = [];
  try {
    const points = cases.map((c, i) => ({ batch: c.batch, x: inputs[i] }));
    const label = ({ batch }: { batch: number }, workers: number, policy: PartitionPolicy) => pointLabel(name, batch, workers, policy);
    const prepare = ({ engine, case: { batch, x }, workers, policy }: SweepPoint<{ batch: number; x: Tensor }>): PreparedPoint<ModelProfile> => ({
      run: async () => (await model.forwardWith(engine, x, { profile: true })).profile,
      record: (measured) => {
        const times = measured.samples.map((s) => s.ms);
        const profiles = measured.samples.map((s) => s.value);
        const steps = profiles[0].steps;
        const flops = steps.reduce((sum, s) => sum + s.flops, 0);
        const totals = profiles.map(engineTotals);
        const medianMs = median(times);
        results.push({
          layer: name,
          batch,
          groups: null,
          workers,
          policy,
          medianMs,
          minMs: minimum(times),
          maxMs: maximum(times),
          gflops: flops / (medianMs * 1e6),
          imagesPerSec: batch / (medianMs / 1000),
          speedup: null,
          efficiency: null,
          imbalance: median(totals.map((t) => t.imbalance)),
          overheadShare: median(totals.map((t) => t.overheadShare)),
          runs: measured.samples.length,
        });
        steps.forEach((s, i) => {
          const engineMs = (pick: 'kernelMs' | 'handoffMs') => (s.engine ? median(profiles.map((p) => p.steps[i].engine![pick])) : null);
          breakdown.push({
            batch,
            policy,
            workers,
            index: s.index,
            name: s.name,
            opType: s.opType,
            kind: s.kind,
            groups: s.groups,
            flops: s.flops,
            medianMs: median(profiles.map((p) => p.steps[i].ms)),
            kernelMs: engineMs('kernelMs'),
            handoffMs: engineMs('handoffMs'),
            speedup: null,
          });
        });
      },
    });
    await sweep(config, points, progress, label, prepare, (engine) => model.release(engine));
  } finally {
    dispose(...inputs);
    model.close();
  }
  const order = (r: { batch: number; policy: PartitionPolicy; workers: number }) => [batches.indexOf(r.batch), r.policy === 'group' ? 0 : 1, r.workers];
  const compare = (a: number[], b: number[]) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  };
  results.sort((a, b) => compare(order(a), order(b)));
  breakdown.sort((a, b) => compare(order(a), order(b)) || a.index - b.index);
  const shape = cases[0]?.shape ?? model.inputs[0].shape ?? [];
  const onCaller = config.callingThread ? "; the calling thread is one of a forward's runners" : '';
  const description = `ONNX model ${basename(config.model)} (${model.info.producer || 'unknown producer'}, opset ${model.info.opset})${onCaller}`;
  return {
    machine: machineInfo(null),
    layers: [{ name, description, shape: `input [${shape.slice(1).join(', ')}]`, kernel: null }],
    results: addSpeedups(results),
    skipped,
    timelines: [],
    breakdown: addLayerSpeedups(breakdown),
    memory,
    callingThread: config.callingThread,
  };
}
