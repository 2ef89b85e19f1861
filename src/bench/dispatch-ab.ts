// Per-call dispatch latency of this engine against another checkout (a
// baseline), in ONE process, alternating A and B round by round: the round trip
// of an empty task (engine.ping) and a whole call on a 1x1x1x1 convolution
// (prepared layer, shared input and output), 2 workers each.
//   git archive main | tar -x -C /tmp/groupconv-old && ln -s "$PWD/node_modules" /tmp/groupconv-old/
//   flock /tmp/groupconv-bench.lock npx tsx src/bench/dispatch-ab.ts --baseline /tmp/groupconv-old [--rounds 9 --calls 300]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { absoluteNow } from '../engine/protocol.js';
import * as current from '../index.js';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '9' },
    calls: { type: 'string', default: '300' },
    workers: { type: 'string', default: '2' },
  },
});
if (!values.baseline) throw new Error('--baseline <directory of another groupconv checkout> is required');
const rounds = Number(values.rounds);
const calls = Number(values.calls);
const workers = Number(values.workers);
type Lib = typeof current;
const baseline = (await import(pathToFileURL(resolve(values.baseline, 'src/index.ts')).href)) as Lib;

function side(lib: Lib) {
  const engine = new lib.GroupedConvEngine({ workers });
  const layer = engine.layer(lib.zeros([1, 1, 1, 1], { shared: true }), null, {});
  const input = lib.zeros([1, 1, 1, 1], { shared: true });
  const out = lib.zeros([1, 1, 1, 1], { shared: true });
  return { engine, ping: () => engine.ping(), call: () => layer.run(input, { out }) };
}
const sides = { old: side(baseline), new: side(current) };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Median µs per call over `calls` back-to-back calls. */
async function time(run: () => Promise<unknown>): Promise<number> {
  const each: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = absoluteNow();
    await run();
    each.push((absoluteNow() - start) * 1000);
  }
  return median(each);
}

for (const s of Object.values(sides)) {
  await s.engine.warmup();
  for (let i = 0; i < 200; i++) await s.ping(), await s.call();
}
const kinds = ['ping', 'call'] as const;
const samples = { old: { ping: [] as number[], call: [] as number[] }, new: { ping: [] as number[], call: [] as number[] } };
const ratios = { ping: [] as number[], call: [] as number[] };
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? (['old', 'new'] as const) : (['new', 'old'] as const);
  for (const kind of kinds) {
    for (const which of order) samples[which][kind].push(await time(sides[which][kind]));
    ratios[kind].push(samples.new[kind].at(-1)! / samples.old[kind].at(-1)!);
  }
  process.stderr.write(`round ${r + 1}/${rounds}\n`);
}
console.log(`medians over ${rounds} rounds of ${calls} calls each, ${workers} workers; baseline ${values.baseline}`);
for (const kind of kinds) {
  const label = kind === 'ping' ? 'empty task round trip' : 'whole call on 1x1x1x1';
  console.log(
    `${label.padEnd(24)} old ${median(samples.old[kind]).toFixed(1)} µs   new ${median(samples.new[kind]).toFixed(1)} µs   new/old ${median(ratios[kind]).toFixed(3)} (median of per-round ratios)`,
  );
}
for (const s of Object.values(sides)) await s.engine.close();
