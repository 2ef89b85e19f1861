// Where a whole-model forward's fixed cost goes, outside its kernels: the
// calling thread's work before the engine program starts (values and buffers
// bound), the program's own setup, from the program's call to its first
// task, from its last task to its result (the worker's report reaching the
// calling thread through Atomics.waitAsync), and after the program. Medians
// over --runs forwards after 30 warm ones. EngineProgram.run is wrapped to
// take every run's profile, which costs a little of "last task -> result".
// Run it in two checkouts to compare them.
//
// --calling-thread: an engine with callingThread, where this thread is one of a program's runners.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/forward-handoffs.ts --model /tmp/onnx2-full/efficientnet_b0.onnx [--batch 1] [--workers 1] [--runs 40] [--calling-thread]
import { parseArgs } from 'node:util';
import { GroupedConvEngine, loadOnnx, Random, zeros } from '../src/index.js';
import { EngineProgram, type ProgramProfile } from '../src/engine/program.js';
import { median } from '../src/statistics.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, batch: { type: 'string', default: '1' }, workers: { type: 'string', default: '1' }, runs: { type: 'string', default: '40' }, 'calling-thread': { type: 'boolean', default: false } } });
if (!values.model) throw new Error('--model FILE.onnx is required');
const batch = Number(values.batch);
const model = loadOnnx(values.model);
const engine = new GroupedConvEngine({ workers: Number(values.workers), callingThread: values['calling-thread'] });
await engine.warmup();
const info = model.inputs[0];
const shape = (info.shape ?? []).map((d, i) => (i === 0 ? batch : typeof d === 'number' ? d : 224));
const x = zeros(shape, { shared: true });
const random = new Random(1);
for (let i = 0; i < x.data.length; i++) x.data[i] = random.uniform(-1, 1);

let last: ProgramProfile | null = null;
let runStart = 0;
let runEnd = 0;
let programs = 0;
const run = EngineProgram.prototype.run;
EngineProgram.prototype.run = async function (buffers, options) {
  programs++;
  runStart = performance.now();
  last = await run.call(this, buffers, { profile: true });
  runEnd = performance.now();
  return options?.profile ? last : null;
};
for (let i = 0; i < 30; i++) await model.forwardWith(engine, x);
const rows: number[][] = [];
for (let i = 0; i < Number(values.runs); i++) {
  programs = 0;
  const t0 = performance.now();
  await model.forwardWith(engine, x);
  const t1 = performance.now();
  const p = last!;
  const stages = p.stages;
  rows.push([t1 - t0, runStart - t0, p.setupMs, stages[0].firstStartMs, p.wallMs - stages[stages.length - 1].lastEndMs, t1 - runEnd, p.wallMs]);
}
if (programs !== 1) console.log(`(${programs} programs per forward: the figures are the last one's)`);
console.log(`${values.model} batch ${batch}, ${engine.workers} worker(s), medians of ${values.runs} forwards (ms)`);
['forward', 'before the program', 'program setup', 'call -> first task', 'last task -> result', 'after the program', 'program wall'].forEach((name, i) =>
  console.log(`${name.padEnd(22)} ${median(rows.map((r) => r[i])).toFixed(3)}`),
);
model.close();
await engine.close();
