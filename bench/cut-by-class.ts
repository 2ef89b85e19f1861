// What the cut costs a whole-model forward, by kind of stage: one engine of
// 2 workers runs an ONNX model's forward cut for both runners and on one
// runner, both forced (mode-choice.ts) and alternated forward by forward, each
// profiled. Per class of stage (its task count at the cut and its fused op
// types) prints the busy time on one runner, the busy time summed over the
// cut's threads (what cutting adds: lines read from the other core, inputs read
// by every task) and the cut's wall time, with the speedup that gives. One
// engine for both ways, because two engines' idle workers poll beside each
// other's runs. --stages also lists every stage.
//
//   npx tsx bench/cut-by-class.ts --model /tmp/onnx2-full/mobilenet_v2.onnx [--batch 1] [--runs 30] [--calling-thread] [--stages]
import { parseArgs } from 'node:util';
import { GroupedConvEngine } from '../src/index.js';
import { ModeChoice, type ProgramWay } from '../src/engine/mode-choice.js';
import { median } from '../src/statistics.js';
import { captureProgramProfiles, modelAndInput } from './support/program-capture.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    batch: { type: 'string', default: '1' },
    runs: { type: 'string', default: '30' },
    'calling-thread': { type: 'boolean', default: false },
    stages: { type: 'boolean', default: false },
  },
});
if (!values.model) throw new Error('--model FILE.onnx is required');
const { model, x } = modelAndInput(values.model, Number(values.batch));
let way: ProgramWay = 'staged';
ModeChoice.prototype.next = () => ({ way, counted: false });
const profiles = captureProgramProfiles();
const engine = new GroupedConvEngine({ workers: 2, callingThread: values['calling-thread'] });

interface StageRow { label: string; tasks: number; oneBusy: number[]; cutBusy: number[]; cutWall: number[] }
const rows: StageRow[] = [];
const forwardMs: Record<ProgramWay, number[]> = { single: [], staged: [] };

async function forward(w: ProgramWay, record: boolean): Promise<void> {
  way = w;
  profiles.take();
  const t0 = performance.now();
  await model.forwardWith(engine, x);
  const ms = performance.now() - t0;
  const stages = profiles.take().flatMap((p) => p.stages);
  if (!record) return;
  forwardMs[w].push(ms);
  stages.forEach((s, i) => {
    const row = (rows[i] ??= { label: s.label, tasks: 0, oneBusy: [], cutBusy: [], cutWall: [] });
    if (w === 'single') {
      row.oneBusy.push(s.totalBusyMs);
    } else {
      row.tasks = s.tasks;
      row.cutBusy.push(s.totalBusyMs);
      row.cutWall.push(s.lastEndMs - s.firstStartMs);
    }
  });
}

for (let i = 0; i < 40; i++) for (const w of ['single', 'staged'] as const) await forward(w, false);
for (let r = 0; r < Number(values.runs); r++) for (const w of r % 2 === 0 ? (['single', 'staged'] as const) : (['staged', 'single'] as const)) await forward(w, true);
await engine.close();
model.close();

console.log(`${values.model}, batch ${values.batch}, 2 workers${values['calling-thread'] ? ' (the calling thread one of them)' : ''}: forward on one runner ${median(forwardMs.single).toFixed(2)} ms, cut ${median(forwardMs.staged).toFixed(2)} ms (medians of ${values.runs})`);
const kind = (label: string) => label.replace(/^'.*' /, '');
const classes = new Map<string, { n: number; one: number; busy: number; wall: number }>();
let total = { one: 0, busy: 0, wall: 0 };
for (const [i, row] of rows.entries()) {
  const one = median(row.oneBusy), busy = median(row.cutBusy), wall = median(row.cutWall);
  total = { one: total.one + one, busy: total.busy + busy, wall: total.wall + wall };
  const key = `${row.tasks} task${row.tasks === 1 ? '' : 's'} ${kind(row.label)}`;
  const c = classes.get(key) ?? { n: 0, one: 0, busy: 0, wall: 0 };
  classes.set(key, { n: c.n + 1, one: c.one + one, busy: c.busy + busy, wall: c.wall + wall });
  if (values.stages) console.log(`${String(i).padStart(4)} ${String(row.tasks).padStart(2)} tasks  one runner ${one.toFixed(3)}  cut busy ${busy.toFixed(3)} (${(busy / one).toFixed(2)}x)  wall ${wall.toFixed(3)}  ${row.label}`);
}
console.log('class (tasks at the cut, ops)                               stages  one runner  cut busy (x one)  cut wall (speedup)');
for (const [key, c] of [...classes].sort((a, b) => b[1].one - a[1].one)) {
  console.log(`${key.padEnd(60)} ${String(c.n).padStart(4)}  ${c.one.toFixed(2).padStart(8)}  ${c.busy.toFixed(2).padStart(8)} (${(c.busy / c.one).toFixed(2)}x)  ${c.wall.toFixed(2).padStart(6)} (${(c.one / c.wall).toFixed(2)}x)`);
}
console.log(`all stages: one runner ${total.one.toFixed(2)} ms busy, cut ${total.busy.toFixed(2)} busy (${(total.busy / total.one).toFixed(2)}x), ${total.wall.toFixed(2)} wall (${(total.one / total.wall).toFixed(2)}x)`);
