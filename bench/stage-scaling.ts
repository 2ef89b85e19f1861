// Where a whole-model forward's 2-worker time goes, stage by stage: per stage
// its task count, its total busy time on 1 worker, and on 2 workers its busy
// time summed over threads (work added by cutting), its busiest thread (what a
// barrier waits for) and its wall time (first start to last end). Sums say how
// much of the gap to 2x is cut overhead, imbalance, or the barriers between.
// On a loaded machine the 2 workers often take turns (one runs a stage's every
// task while the other waits for a core), so it also gives what the cut would
// take on idle workers: per stage, its measured task times shared largest
// first over 2 workers (no barrier cost), summed.
//
//   npx tsx bench/stage-scaling.ts --model /tmp/onnx2-full/efficientnet_b0.onnx --batch 1 --runs 20
import { parseArgs } from 'node:util';
import { GroupedConvEngine } from '../src/index.js';
import { median } from '../src/statistics.js';
import { captureProgramProfiles, modelAndInput } from './support/program-capture.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, batch: { type: 'string', default: '1' }, runs: { type: 'string', default: '20' }, top: { type: 'string', default: '25' } } });
const batch = Number(values.batch);
const runs = Number(values.runs);
const { model, x } = modelAndInput(values.model!, batch);

const profiles = captureProgramProfiles();

/** The busiest of `workers` when `tasks` go largest first to the least loaded. */
function makespan(tasks: readonly number[], workers: number): number {
  const loads = new Array<number>(workers).fill(0);
  for (const t of [...tasks].sort((a, b) => b - a)) loads[loads.indexOf(Math.min(...loads))] += t;
  return Math.max(...loads);
}

interface Row { label: string; tasks: number; busy: number[]; busiest: number[]; wall: number[]; threads: number[]; idle: number[] }
const perWorkers: Row[][] = [];
const forwardMs: number[] = [];
/** Per worker count: the programs' wall time, their first task's start (the hand-off) and what followed their last task's end (the return), summed per forward. */
const programMs: Array<{ wall: number[]; start: number[]; end: number[] }> = [];
for (const workers of [1, 2]) {
  const engine = new GroupedConvEngine({ workers });
  for (let i = 0; i < 3; i++) await model.forwardWith(engine, x);
  const rows: Row[] = [];
  const walls: number[] = [];
  const program = { wall: [] as number[], start: [] as number[], end: [] as number[] };
  for (let r = 0; r < runs; r++) {
    profiles.take();
    const t0 = performance.now();
    await model.forwardWith(engine, x);
    const captured = profiles.take();
    walls.push(performance.now() - t0);
    let k = 0;
    program.wall.push(captured.reduce((t, p) => t + p.wallMs, 0));
    program.start.push(captured.reduce((t, p) => t + p.stages[0].firstStartMs, 0));
    program.end.push(captured.reduce((t, p) => t + p.wallMs - p.stages.at(-1)!.lastEndMs, 0));
    for (const p of captured) {
      let previous = 0;
      for (const s of p.stages) {
        const row = (rows[k] ??= { label: s.label, tasks: s.tasks, busy: [], busiest: [], wall: [], threads: [], idle: [] });
        row.idle.push(makespan(s.taskMs, 2));
        row.threads.push(s.threads.length);
        row.busy.push(s.totalBusyMs);
        row.busiest.push(s.busiestMs);
        row.wall.push(s.lastEndMs - previous);
        previous = s.lastEndMs;
        k++;
      }
    }
  }
  forwardMs.push(median(walls));
  programMs.push(program);
  perWorkers.push(rows);
  await engine.close();
}
const [one, two] = perWorkers;
const m = (a: number[]) => median(a);
const sum = (rows: Row[], f: (r: Row) => number) => rows.reduce((s, r) => s + f(r), 0);
console.log(`forward median: ${forwardMs[0].toFixed(2)} ms @1, ${forwardMs[1].toFixed(2)} ms @2 (${one.length} stages)`);
programMs.forEach((p, w) => console.log(`@${w + 1}: programs ${m(p.wall).toFixed(2)} ms of the forward, of which before the first task ${m(p.start).toFixed(2)}, after the last ${m(p.end).toFixed(2)}`));
console.log(`idle-worker estimate @2 (tasks largest first, no barrier cost): ${sum(two, (r) => m(r.idle)).toFixed(2)} ms of stages, ${(sum(one, (r) => m(r.busy)) / sum(two, (r) => m(r.idle))).toFixed(2)}x the 1-worker busy time`);
console.log(`sum busy @1 ${sum(one, (r) => m(r.busy)).toFixed(2)}  sum busy @2 ${sum(two, (r) => m(r.busy)).toFixed(2)}  sum busiest @2 ${sum(two, (r) => m(r.busiest)).toFixed(2)}  sum stage wall @2 ${sum(two, (r) => m(r.wall)).toFixed(2)}`);
const shared = two.filter((r) => r.tasks > 1);
const both = shared.reduce((n, r) => n + r.threads.filter((t) => t > 1).length, 0);
console.log(`stages of 2+ tasks run by both threads @2: ${((100 * both) / shared.reduce((n, r) => n + r.threads.length, 0)).toFixed(0)}%`);
// Largest loss on idle workers first: the stage's estimate over half its 1-worker time.
const loss = (i: number) => m(two[i].idle) - m(one[i].busy) / 2;
const order = two.map((_, i) => i).sort((a, b) => loss(b) - loss(a));
console.log('stage  tasks@2  busy@1  busy@2  busiest@2  wall@2  idle@2  label');
for (const i of order.slice(0, Number(values.top))) {
  const a = one[i];
  const b = two[i];
  console.log(`${String(i).padStart(5)}  ${String(b.tasks).padStart(7)}  ${m(a.busy).toFixed(3)}  ${m(b.busy).toFixed(3)}  ${m(b.busiest).toFixed(3)}  ${m(b.wall).toFixed(3)}  ${m(b.idle).toFixed(3)}  ${b.label}`);
}
const byTasks = new Map<number, { n: number; busy1: number; busiest2: number; wall2: number }>();
two.forEach((b, i) => {
  const e = byTasks.get(b.tasks) ?? { n: 0, busy1: 0, busiest2: 0, wall2: 0 };
  e.n++; e.busy1 += m(one[i].busy); e.busiest2 += m(b.busiest); e.wall2 += m(b.wall);
  byTasks.set(b.tasks, e);
});
console.log('tasks@2  stages  busy@1  busiest@2  wall@2');
for (const [t, e] of [...byTasks].sort((a, b) => a[0] - b[0])) console.log(`${String(t).padStart(7)}  ${String(e.n).padStart(6)}  ${e.busy1.toFixed(2)}  ${e.busiest2.toFixed(2)}  ${e.wall2.toFixed(2)}`);
