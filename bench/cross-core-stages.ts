// What a stage's work costs when the other worker wrote its input: three 1x1
// layers as one engine program (expand 24 -> 144, project 144 -> 24, the same
// projection again) at batch 1, on 1 worker and on 2, each stage's busy time
// summed over the threads that ran it. On 1 worker every stage reads what the
// same core just wrote; on 2 the expansion is cut by output channels, so each
// projection task reads the whole input, half of it lines the other core holds
// modified, and the second projection reads lines both now share. The gap
// between the two projections is what moving lines between cores costs; the
// gap to 1 worker, that plus reading the whole input once per task.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/cross-core-stages.ts [--side 56] [--runs 200]
import { parseArgs } from 'node:util';
import { GroupedConvEngine, Random, zeros } from '../src/index.js';
import { median } from '../src/statistics.js';

const { values } = parseArgs({ options: { side: { type: 'string', default: '56' }, runs: { type: 'string', default: '200' } } });
const side = Number(values.side);
const runs = Number(values.runs);
const [cin, mid] = [24, 144];
const random = new Random(3);
const filled = (shape: number[]) => {
  const t = zeros(shape, { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = random.uniform(-1, 1);
  return t;
};
for (const workers of [1, 2]) {
  const engine = new GroupedConvEngine({ workers });
  const expand = engine.layer(filled([mid, cin, 1, 1]), filled([mid]), { activation: { kind: 'relu' } });
  const project = engine.layer(filled([cin, mid, 1, 1]), filled([cin]));
  const hw = side * side;
  const stages = [
    { kind: 'conv' as const, label: 'expand', layer: expand, inputShape: [1, cin, side, side], input: 0, output: 1 },
    { kind: 'conv' as const, label: 'project', layer: project, inputShape: [1, mid, side, side], input: 1, output: 2 },
    { kind: 'conv' as const, label: 'project again', layer: project, inputShape: [1, mid, side, side], input: 1, output: 3 },
  ];
  const program = engine.program(stages, [cin * hw, mid * hw, cin * hw, cin * hw]);
  const buffers = [filled([1, cin, side, side]), ...[mid, cin, cin].map((c) => zeros([1, c, side, side], { shared: true }))].map((t) => t.data);
  const busy: number[][] = stages.map(() => []);
  const tasks: number[] = [];
  for (let r = 0; r < runs; r++) {
    const profile = await program.run(buffers, { profile: true });
    if (r < runs / 10) continue; // warm-up
    profile!.stages.forEach((s, i) => {
      busy[i].push(s.totalBusyMs * 1000);
      tasks[i] = s.tasks;
    });
  }
  console.log(`${workers} worker(s), ${side}x${side}: ` + stages.map((s, i) => `${s.label} (${tasks[i]} tasks) ${median(busy[i]).toFixed(0)} us`).join(', '));
  program.close();
  await engine.close();
}
