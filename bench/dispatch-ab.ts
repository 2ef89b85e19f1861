// Per-call dispatch latency of this engine against another checkout (a
// baseline), in ONE process, alternating old and new round by round: the round
// trip of an empty task (engine.ping) and a whole call on a 1x1x1x1 convolution
// (prepared layer, shared input and output), 2 workers each. These are
// bench:engine's two round trips; its AlexNet conv2 is bench/engine-ab.ts's.
//   git archive main | tar -x -C /tmp/groupconv-old && ln -s "$PWD/node_modules" /tmp/groupconv-old/
//   flock /tmp/groupconv-bench.lock npx tsx bench/dispatch-ab.ts --baseline /tmp/groupconv-old [--rounds 9 --calls 300]
import { parseArgs } from 'node:util';
import { median } from '../src/statistics.js';
import { current, loadBaseline, type Groupconv } from './support/baseline.js';
import { perRoundRatios, rotated } from './support/rounds.js';
import { eachCallMs } from './support/timing.js';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '9' },
    calls: { type: 'string', default: '300' },
    workers: { type: 'string', default: '2' },
  },
});
const baseline = await loadBaseline(values.baseline);
const rounds = Number(values.rounds);
const calls = Number(values.calls);
const workers = Number(values.workers);

function side(lib: Groupconv) {
  const engine = new lib.GroupedConvEngine({ workers });
  const layer = engine.layer(lib.zeros([1, 1, 1, 1], { shared: true }), null, {});
  const input = lib.zeros([1, 1, 1, 1], { shared: true });
  const out = lib.zeros([1, 1, 1, 1], { shared: true });
  return { engine, ping: () => engine.ping(), call: () => layer.run(input, { out }) };
}
const sides = { old: side(baseline), new: side(current) };

/** Median µs per call over `calls` back-to-back calls. */
const medianMicros = async (run: () => Promise<unknown>) => median(await eachCallMs(run, calls)) * 1000;

for (const s of Object.values(sides)) {
  await s.engine.warmup();
  for (let i = 0; i < 200; i++) await s.ping(), await s.call();
}
const kinds = ['ping', 'call'] as const;
const samples = { old: { ping: [] as number[], call: [] as number[] }, new: { ping: [] as number[], call: [] as number[] } };
for (let r = 0; r < rounds; r++) {
  for (const kind of kinds) {
    for (const which of rotated(['old', 'new'] as const, r)) samples[which][kind].push(await medianMicros(sides[which][kind]));
  }
  process.stderr.write(`round ${r + 1}/${rounds}\n`);
}
console.log(`medians over ${rounds} rounds of ${calls} calls each, ${workers} workers; baseline ${values.baseline}`);
for (const kind of kinds) {
  const label = kind === 'ping' ? 'empty task round trip' : 'whole call on 1x1x1x1';
  const ratio = median(perRoundRatios(samples.new[kind], samples.old[kind]));
  console.log(
    `${label.padEnd(24)} old ${median(samples.old[kind]).toFixed(1)} µs   new ${median(samples.new[kind]).toFixed(1)} µs   new/old ${ratio.toFixed(3)} (median of per-round ratios)`,
  );
}
for (const s of Object.values(sides)) await s.engine.close();
