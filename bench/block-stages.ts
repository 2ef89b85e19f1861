// An inverted residual block's stages (1x1 expansion, depthwise 3x3, 1x1
// projection, as mobilenet_v2 has them) as one engine program at batch 1, on
// one runner and cut for two (the cut forced: no mode choice), profiled: each
// stage's busy time summed over the runners that ran it, which is what the cut
// costs in work. A stage whose summed time is well above one runner's is
// paying for lines that cross between the cores: its input written by the
// other core, or its output lines the other core read in the last run
// (docs/benchmarks.md, "A prefetch for writing that was a read").
//
//   npx tsx bench/block-stages.ts [--side 28 --cin 32 --mid 192] [--stages expand,dw,project] [--runs 400]
import { parseArgs } from 'node:util';
import { GroupedConvEngine, Random, zeros, type ProgramStage } from '../src/index.js';
import { ModeChoice } from '../src/engine/mode-choice.js';
import { median } from '../src/statistics.js';

const { values } = parseArgs({
  options: {
    side: { type: 'string', default: '28' },
    cin: { type: 'string', default: '32' },
    mid: { type: 'string', default: '192' },
    stages: { type: 'string', default: 'expand,dw,project' },
    runs: { type: 'string', default: '400' },
  },
});
const [side, cin, mid, runs] = [values.side, values.cin, values.mid, values.runs].map(Number);
const keep = values.stages.split(',');
ModeChoice.prototype.next = () => ({ way: 'staged', counted: false });
const random = new Random(3);
const filled = (shape: number[]) => {
  const t = zeros(shape, { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = random.uniform(-1, 1);
  return t;
};
const hw = side * side;
for (const workers of [1, 2, 1, 2]) {
  const engine = new GroupedConvEngine({ workers, callingThread: true });
  const expand = engine.layer(filled([mid, cin, 1, 1]), filled([mid]), { activation: { kind: 'clip', min: 0, max: 6 } });
  const dw = engine.layer(filled([mid, 1, 3, 3]), filled([mid]), { groups: mid, padding: 1, activation: { kind: 'clip', min: 0, max: 6 } });
  const project = engine.layer(filled([cin, mid, 1, 1]), filled([cin]));
  const all: ProgramStage[] = [
    { kind: 'conv', label: 'expand', layer: expand, inputShape: [1, cin, side, side], input: 0, output: 1 },
    { kind: 'conv', label: 'dw', layer: dw, inputShape: [1, mid, side, side], input: 1, output: 2 },
    { kind: 'conv', label: 'project', layer: project, inputShape: [1, mid, side, side], input: 2, output: 3 },
  ];
  const stages = all.filter((s) => keep.includes(s.label));
  const program = engine.program(stages, [cin * hw, mid * hw, mid * hw, cin * hw]);
  const buffers = [filled([cin * hw]), filled([mid * hw]), zeros([mid * hw], { shared: true }), zeros([cin * hw], { shared: true })].map((t) => t.data);
  const busy: number[][] = stages.map(() => []);
  const wall: number[] = [];
  const tasks: number[] = [];
  for (let r = 0; r < runs; r++) {
    const profile = (await program.run(buffers, { profile: true }))!;
    if (r < runs / 4) continue; // warm-up
    wall.push(profile.wallMs * 1000);
    profile.stages.forEach((s, i) => {
      busy[i].push(s.totalBusyMs * 1000);
      tasks[i] = s.tasks;
    });
  }
  console.log(`${workers} runner(s), ${side}x${side}, ${cin} -> ${mid}: run ${median(wall).toFixed(0)} us; ` + stages.map((s, i) => `${s.label} (${tasks[i]} tasks) ${median(busy[i]).toFixed(1)} us`).join(', '));
  program.close();
  await engine.close();
}
