// ONNX fusion (src/onnx/fuse.ts) on and off, in ONE process, alternating:
// the same model file loaded twice, the second with its plan's fusions removed
// (every node its own step, as before fusion: BatchNormalization, the
// activation and the residual Add on the calling thread after an engine Conv).
// Each round runs forwardWith of both (order rotating), per worker count;
// figures are medians of per-round ratios with their quartiles, and the load
// other processes put on the machine.
//   flock /tmp/groupconv-bench.lock npx tsx bench/onnx-fuse-ab.ts --model FILE.onnx [--batch 8] [--workers 1,2] [--rounds 7] [--size 224]
import { parseArgs } from 'node:util';
import { GroupedConvEngine, loadOnnx, Random, type Tensor } from '../src/index.js';
import { fusedSchedule } from '../src/onnx/fuse.js';
import type { OnnxModel } from '../src/onnx/model.js';
import { median, quantile } from '../src/statistics.js';
import { otherCoresSince } from './support/load-probe.js';
import { perRoundRatios, rotated } from './support/rounds.js';
import { formatMs, meanMsPerCall } from './support/timing.js';
import { errors } from '../src/errors.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    batch: { type: 'string', default: '8' },
    workers: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '7' },
    size: { type: 'string' },
    'min-ms': { type: 'string', default: '300' },
  },
});
if (!values.model) throw errors.badFlag('--model', 'FILE.onnx is required');
const batch = Number(values.batch);
const rounds = Number(values.rounds);
const workerCounts = values.workers.split(',').map(Number);

const fused = loadOnnx(values.model);
const unfused = loadOnnx(values.model);
const declared = fused.inputs[0].shape ?? [];
const size = values.size ? Number(values.size) : null;
const shape = declared.map((d, i) => (i === 0 ? batch : typeof d === 'number' ? d : (size ?? 224)));
const random = new Random(14);
const x: Tensor = { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.uniform(-1, 1)) };
const name = fused.inputs[0].name;
// Fusion off: the plan's schedule rebuilt with no groups, before any execution is made from it.
const plan = unfused.planFor({ [name]: shape });
const groups = fused.planFor({ [name]: shape }).fusions;
plan.fusions = [];
plan.schedule = fusedSchedule(plan, []);

const engines = workerCounts.map((workers) => new GroupedConvEngine({ workers }));
const contenders: Array<{ label: string; engine: GroupedConvEngine; model: OnnxModel }> = [];
for (const engine of engines) for (const [label, model] of [['fused', fused], ['unfused', unfused]] as const) contenders.push({ label, engine, model });
const run = (c: (typeof contenders)[number]) => c.model.forwardWith(c.engine, x);

// Warm-up, and the answer: fused and unfused differ by BatchNorm folding's rounding only.
let largest = 0;
for (const engine of engines) {
  await engine.warmup();
  const a = await fused.forwardWith(engine, x);
  const b = await unfused.forwardWith(engine, x);
  for (let i = 0; i < a.data.length; i++) largest = Math.max(largest, Math.abs(a.data[i] - b.data[i]));
}
const samples = contenders.map(() => [] as number[]);
const callsPer = await Promise.all(contenders.map(async (c) => Math.max(1, Math.ceil(Number(values['min-ms']) / (await meanMsPerCall(() => run(c), 1))))));
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  const otherCores = otherCoresSince();
  for (const i of rotated(contenders.map((_, k) => k), r)) samples[i].push(await meanMsPerCall(() => run(contenders[i]), callsPer[i]));
  const busy = otherCores();
  if (busy !== null) loads.push(busy);
  process.stderr.write(`round ${r + 1}/${rounds}${busy !== null ? `: other processes kept ${busy.toFixed(2)} cores busy` : ''}\n`);
}

console.log(`${values.model}: input [${shape}], ${groups.length} fused groups (${plan.steps.length} plan steps -> ${fused.planFor({ [name]: shape }).schedule.steps.length} fused)`);
console.log(`largest |fused - unfused| over the output: ${largest.toExponential(2)}`);
console.log('ms per forwardWith, medians over rounds; fused/unfused: median of per-round ratios [quartiles]');
for (const [e, engine] of engines.entries()) {
  const [f, u] = [2 * e, 2 * e + 1];
  const ratios = perRoundRatios(samples[f], samples[u]);
  console.log(
    `${engine.workers} worker(s): unfused ${formatMs(median(samples[u]))}, fused ${formatMs(median(samples[f]))}, ` +
      `fused/unfused ${median(ratios).toFixed(3)} [${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)}]`,
  );
}
if (loads.length) console.log(`other processes kept ${median(loads).toFixed(2)} cores busy (median over rounds; max ${Math.max(...loads).toFixed(2)})`);
await Promise.all(engines.map((e) => e.close()));
fused.close();
unfused.close();
