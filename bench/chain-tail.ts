// How a chained forward's 2 workers share its chains' images, run by run: per
// chain the images each thread took, each thread's busy time in the chain, the
// chain's wall (first start to last end) and the tail (the chain's wall minus
// the less busy thread's busy time: what one worker waited at the chain's end,
// the hand-off included), then what the stages after the chains took.
//
//   npx tsx bench/chain-tail.ts --model /tmp/onnx2-full/shufflenet_v2_x1_0.onnx --batch 8 --runs 20 [--workers 2]
import { parseArgs } from 'node:util';
import { GroupedConvEngine } from '../src/index.js';
import { median } from '../src/statistics.js';
import { captureProgramProfiles, modelAndInput } from './support/program-capture.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, batch: { type: 'string', default: '8' }, runs: { type: 'string', default: '20' }, workers: { type: 'string', default: '2' } } });
const batch = Number(values.batch);
const { model, x } = modelAndInput(values.model!, batch);

const profiles = captureProgramProfiles();

const engine = new GroupedConvEngine({ workers: Number(values.workers) });
for (let i = 0; i < 3; i++) await model.forwardWith(engine, x);
const tails: number[] = [];
const forwards: number[] = [];
const rest: number[] = [];
for (let r = 0; r < Number(values.runs); r++) {
  profiles.take();
  const t0 = performance.now();
  await model.forwardWith(engine, x);
  const captured = profiles.take();
  const wall = performance.now() - t0;
  forwards.push(wall);
  const parts: string[] = [];
  let chainMs = 0;
  for (const p of captured) {
    for (const { from, to } of p.chains) {
      const members = p.stages.slice(from, to);
      const busy = new Map<number, { ms: number; images: number }>();
      for (const s of members) for (const t of s.threads) {
        const e = busy.get(t.threadId) ?? { ms: 0, images: 0 };
        e.ms += t.busyMs;
        if (s === members[0]) e.images += t.tasks;
        busy.set(t.threadId, e);
      }
      const chainWall = members.at(-1)!.lastEndMs - members[0].firstStartMs;
      const least = Math.min(...[...busy.values()].map((e) => e.ms));
      const tail = busy.size < 2 ? chainWall : chainWall - least;
      tails.push(tail);
      chainMs += members.at(-1)!.lastEndMs - (from === 0 ? 0 : p.stages[from - 1].lastEndMs);
      parts.push(`[${from},${to}) images ${[...busy.values()].map((e) => e.images).join('/')} busy ${[...busy.values()].map((e) => e.ms.toFixed(1)).join('/')} wall ${chainWall.toFixed(1)} tail ${tail.toFixed(2)}`);
    }
  }
  const programs = captured.reduce((t, p) => t + p.wallMs, 0);
  rest.push(wall - chainMs);
  console.log(`forward ${wall.toFixed(1)} ms, programs ${programs.toFixed(1)}, outside the chains ${(wall - chainMs).toFixed(2)}: ${parts.join('; ')}`);
}
console.log(`median forward ${median(forwards).toFixed(2)} ms, chain tail ${median(tails).toFixed(2)} ms, outside the chains ${median(rest).toFixed(2)} ms`);
await engine.close();
model.close();
