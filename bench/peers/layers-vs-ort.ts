// Per convolution, groupconv's time against onnxruntime-node's, in one process,
// the two alternated forward by forward so both see the same phase of this
// shared machine. Each side's forward is cut into groups at its convolutions:
// a Conv (onnxruntime: Conv or FusedConv; groupconv: a Conv step, fused or not)
// with the nodes after it up to the next one (onnxruntime's separate activation,
// reorders, a squeeze-excitation's pool and scale), so the two sides' groups
// are the same part of the network. Times are kernel times (onnxruntime's
// profiler; groupconv's busiest worker, or the step's wall time on the calling
// thread), medians over the runs. Prints the groups' sums by the conv's class
// and the groups where the ratio is worst.
//
//   cd bench/peers && npx tsx layers-vs-ort.ts --model /tmp/onnx2-full/efficientnet_b0.onnx [--batch 1] [--runs 20] [--top 15] [--calling-thread]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GroupedConvEngine, loadOnnx, zeros } from '../../src/index.js';
import { median } from '../../src/statistics.js';
import { convShape } from '../support/conv-shape.js';

type Untyped = any;
const { values } = parseArgs({
  options: {
    model: { type: 'string' }, batch: { type: 'string', default: '1' }, runs: { type: 'string', default: '20' },
    top: { type: 'string', default: '15' }, 'calling-thread': { type: 'boolean', default: false },
  },
});
if (!values.model) throw new Error('--model FILE.onnx is required');
const path = resolve(values.model);
const batch = Number(values.batch);
const runs = Number(values.runs);
const importPeer = (name: string): Promise<Untyped> => import(name);
const ort: Untyped = await importPeer('onnxruntime-node');

const model = loadOnnx(path);
const shape = (model.inputs[0].shape ?? []).map((d, i) => (i === 0 ? batch : typeof d === 'number' ? d : 224));
const x = zeros(shape, { shared: true });
for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i * 0.37);
const engine = new GroupedConvEngine({ workers: 1, callingThread: values['calling-thread'] });

const dir = mkdtempSync(join(tmpdir(), 'ort-layers-'));
const previous = process.cwd();
process.chdir(dir); // onnxruntime writes its profile into the working directory
const session = await ort.InferenceSession.create(path, {
  intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: 'ort',
});
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(x.data), shape) };

interface Group { label: string; ms: number }
const ours: Group[][] = [];
const walls = { ours: [] as number[], ort: [] as number[] };
const warm = 5;
for (let r = 0; r < warm + runs; r++) {
  let t0 = performance.now();
  const { profile } = await model.forwardWith(engine, x, { profile: true });
  const wall = performance.now() - t0;
  t0 = performance.now();
  await session.run(feeds);
  const ortWall = performance.now() - t0;
  if (r < warm) continue;
  walls.ours.push(wall);
  walls.ort.push(ortWall);
  const groups: Group[] = [];
  for (const s of profile!.steps) {
    const ms = s.engine?.kernelMs ?? s.ms;
    // A squeeze-excitation's scale folded into the projection makes 'Mul+Conv+...': a Conv all the same.
    if (s.opType.split('+').includes('Conv')) groups.push({ label: s.opType, ms });
    else if (groups.length > 0) groups[groups.length - 1].ms += ms;
  }
  ours.push(groups);
}
session.endProfiling();
const events = JSON.parse(readFileSync(join(dir, readdirSync(dir).filter((f) => f.startsWith('ort')).sort().pop()!), 'utf8')) as Untyped[];
process.chdir(previous);
rmSync(dir, { recursive: true, force: true });
await session.release();

// onnxruntime's node events in order; a run is the events between two model_run events.
const ortRuns: Group[][] = [];
let current: Group[] | null = null;
for (const e of events) {
  if (e.cat === 'Session' && e.name === 'model_run') {
    if (current) ortRuns.push(current);
    current = [];
    continue;
  }
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  current ??= [];
  const ms = (e.dur as number) / 1000;
  const op = e.args.op_name as string;
  if (op === 'Conv' || op === 'FusedConv') current.push({ label: op, ms });
  else if (current.length > 0) current[current.length - 1].ms += ms;
}
if (current && current.length > 0) ortRuns.push(current);
// model_run closes a run in onnxruntime's profile: the node events before it are that run's.
const ortTimed = ortRuns.filter((g) => g.length > 0).slice(-runs);

const n = ours[0].length;
if (ortTimed.some((g) => g.length !== n)) throw new Error(`groups differ: groupconv ${n}, onnxruntime ${ortTimed.map((g) => g.length).join(',')}`);
const steps = model.executionFor(engine, { [model.inputs[0].name]: shape }).steps.filter((s) => s.kind === 'engine');
const rows = Array.from({ length: n }, (_, i) => {
  const step = steps[i];
  const { label, cls } = step && step.kind === 'engine' ? convShape(step) : { label: '', cls: 'other' };
  const gc = median(ours.map((g) => g[i].ms));
  const rt = median(ortTimed.map((g) => g[i].ms));
  return { i, label, cls, op: ours[0][i].label, gc, rt };
});
const byClass = new Map<string, { gc: number; rt: number; count: number }>();
for (const r of rows) {
  const c = byClass.get(r.cls) ?? { gc: 0, rt: 0, count: 0 };
  c.gc += r.gc; c.rt += r.rt; c.count++;
  byClass.set(r.cls, c);
}
const sum = (k: 'gc' | 'rt') => rows.reduce((t, r) => t + r[k], 0);
console.log(`${values.model}, batch ${batch}, 1 thread, ${runs} runs alternated: forward walls groupconv ${median(walls.ours).toFixed(2)} ms, onnxruntime ${median(walls.ort).toFixed(2)} ms (profiled); groups' sums ${sum('gc').toFixed(2)} / ${sum('rt').toFixed(2)} ms`);
console.log('class                  groups  groupconv ms  onnxruntime ms  ratio');
for (const [cls, c] of [...byClass].sort((a, b) => b[1].gc - a[1].gc)) console.log(`${cls.padEnd(22)} ${String(c.count).padStart(6)} ${c.gc.toFixed(2).padStart(13)} ${c.rt.toFixed(2).padStart(15)}  ${(c.gc / c.rt).toFixed(2)}`);
console.log(`\nworst groups by time lost (groupconv - onnxruntime):`);
for (const r of [...rows].sort((a, b) => b.gc - b.rt - (a.gc - a.rt)).slice(0, Number(values.top))) {
  console.log(`${String(r.i).padStart(3)} ${r.label.padEnd(28)} ${r.op.padEnd(38)} ${r.gc.toFixed(3)} / ${r.rt.toFixed(3)} ms  ${(r.gc / r.rt).toFixed(2)}x`);
}
model.close();
await engine.close();
