// What a barrier costs a program: 100 stages of a small ReLU (2 x 32K floats,
// so 2 tasks of ~10 µs each), run on 1 worker (no barrier waits) and on 2,
// alternated, medians over rounds. The 2-worker time per stage over half the
// 1-worker time per stage is the barrier's wake-up and hand-over.
//
//   npx tsx bench/barrier-cost.ts [--floats 65536] [--rounds 30]
import { parseArgs } from 'node:util';
import { GroupedConvEngine, zeros } from '../src/index.js';
import { unaryOp } from '../src/kernels/ranged/unary.js';
import { median } from '../src/statistics.js';

const { values } = parseArgs({ options: { floats: { type: 'string', default: '65536' }, rounds: { type: 'string', default: '30' }, stages: { type: 'string', default: '100' } } });
const floats = Number(values.floats);
const count = Number(values.stages);
const a = zeros([floats], { shared: true });
const b = zeros([floats], { shared: true });
for (let i = 0; i < floats; i++) a.data[i] = Math.sin(i);
const op = unaryOp('relu', floats, {});
const stages = Array.from({ length: count }, (_, i) => ({ kind: 'ranged' as const, label: `relu ${i}`, op, inputs: [i % 2], outputs: [1 - (i % 2)] }));
const engines = [1, 2].map((workers) => new GroupedConvEngine({ workers }));
const programs = engines.map((e) => e.program(stages, [floats, floats]));
const times: number[][] = [[], []];
const tasks: number[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const w of round % 2 === 0 ? [0, 1] : [1, 0]) {
    await programs[w].run([a.data, b.data]);
    const t0 = performance.now();
    const p = await programs[w].run([a.data, b.data], { profile: true });
    times[w].push(((performance.now() - t0) * 1000) / count);
    if (w === 1) tasks.push(p!.stages.filter((s) => s.threads.length > 1).length / count);
  }
}
const [one, two] = times.map((t) => median(t));
console.log(`${count} stages of relu over ${floats} floats (${op.units} units): ${one.toFixed(1)} µs/stage @1, ${two.toFixed(1)} µs/stage @2; barrier cost over half @1: ${(two - one / 2).toFixed(1)} µs; stages run by both threads ${(100 * median(tasks)).toFixed(0)}%`);
programs.forEach((p) => p.close());
await Promise.all(engines.map((e) => e.close()));
