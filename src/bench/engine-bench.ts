// The engine's three performance targets, measured (not asserted: the machine is shared):
//   1. AlexNet conv2 (batch 8, 96 -> 256, 5x5, pad 2, groups 2, 27x27): 2 workers vs 1 worker;
//   2. the engine with 1 worker vs the same kernel (runPlan) called directly on the main thread;
//   3. the round trip of an empty task through the pool (and of a whole call on a 1x1 tensor).
// Run: npm run bench:engine [-- --runs 5 --batch 8 --pings 2000]  (under flock on a shared machine)
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { fullSlice, resolveConv2d } from '../conv/geometry.js';
import { GroupedConvEngine } from '../engine/engine.js';
import { absoluteNow } from '../engine/protocol.js';
import { planConv, planScratchFloats, runPlan } from '../kernels/plan.js';
import { Random } from '../random.js';
import { zeros, type Tensor } from '../tensor/tensor.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '8' },
    pings: { type: 'string', default: '2000' },
    policy: { type: 'string', default: 'balanced' },
  },
});
const runs = Number(values.runs);
const batch = Number(values.batch);
const pings = Number(values.pings);
const policy = values.policy as 'group' | 'balanced';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms: number) => (ms >= 100 ? `${(ms / 1000).toFixed(3)} s` : ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`);

function randomShared(random: Random, shape: number[], scale = 1): Tensor {
  const t = zeros(shape, { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = random.normal() * scale;
  return t;
}

const random = new Random(1);
const input = randomShared(random, [batch, 96, 27, 27]);
const weight = randomShared(random, [256, 48, 5, 5], 0.05);
const bias = randomShared(random, [256]);
const options = { padding: 2, groups: 2 };
const { geometry } = resolveConv2d(input, weight, bias, options);
const out = zeros([batch, 256, 27, 27], { shared: true });

console.log(`node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown cpu'})`);
console.log(
  `AlexNet conv2: input [${input.shape}], weight [${weight.shape}], groups 2, ${((2 * geometry.batch * geometry.outChannels * geometry.outHeight * geometry.outWidth * 48 * 25) / 1e9).toFixed(2)} GFLOP, ${runs} runs each, policy '${policy}'\n`,
);

const engines = new Map<number, GroupedConvEngine>();
for (const workers of [1, 2]) {
  const engine = new GroupedConvEngine({ workers, policy });
  await engine.warmup();
  engines.set(workers, engine);
}
const layers = new Map([...engines].map(([w, e]) => [w, e.layer(weight, bias, options)]));

// The direct call: the same plan contract the workers use, on this thread, over the whole output.
const plan = planConv(geometry, weight.data);
const scratchFloats = planScratchFloats(plan, fullSlice(geometry));
const scratch = zeros([Math.max(1, scratchFloats)], { shared: true }).data; // in the arena, as the engine's
const direct = () => runPlan(plan, input.data, weight.data, bias.data, out.data, fullSlice(geometry), scratch);

// One untimed pass of each warms the JIT on every thread.
direct();
for (const layer of layers.values()) await layer.run(input, { out });

const times = { direct: [] as number[], one: [] as number[], two: [] as number[] };
const profiles: Array<{ imbalance: number; dispatchOverheadMs: number; wallMs: number }> = [];
for (let r = 0; r < runs; r++) {
  // Interleaved, so slow drifts of the shared machine hit every variant alike.
  let start = absoluteNow();
  direct();
  times.direct.push(absoluteNow() - start);
  start = absoluteNow();
  await layers.get(1)!.run(input, { out });
  times.one.push(absoluteNow() - start);
  const { profile } = await layers.get(2)!.run(input, { out, profile: true });
  times.two.push(profile.wallMs);
  profiles.push(profile);
  console.log(`run ${r + 1}: main thread ${fmt(times.direct[r])}, 1 worker ${fmt(times.one[r])}, 2 workers ${fmt(times.two[r])}`);
}

const [direct1, one, two] = [median(times.direct), median(times.one), median(times.two)];
console.log(`\nmedians: main thread ${fmt(direct1)}, engine 1 worker ${fmt(one)}, engine 2 workers ${fmt(two)}`);
console.log(`speed-up 2 workers vs 1 worker: ${(one / two).toFixed(3)}x (target >= 1.85x)`);
console.log(`engine 1 worker vs main thread: ${(((one - direct1) / direct1) * 100).toFixed(2)}% slower (target <= 5%)`);
console.log(
  `2-worker profile medians: imbalance ${median(profiles.map((p) => p.imbalance)).toFixed(3)}, dispatch overhead ${fmt(median(profiles.map((p) => p.dispatchOverheadMs)))}`,
);

// Round trips: an empty task through the pool, then a whole call on the smallest convolution.
const engine = engines.get(2)!;
for (let i = 0; i < 200; i++) await engine.ping();
const trips: number[] = [];
for (let i = 0; i < pings; i++) trips.push((await engine.ping()).roundTripMs);
const tiny = engine.layer(zeros([1, 1, 1, 1], { shared: true }), null, {});
const tinyInput = zeros([1, 1, 1, 1], { shared: true });
const tinyOut = zeros([1, 1, 1, 1], { shared: true });
for (let i = 0; i < 200; i++) await tiny.run(tinyInput, { out: tinyOut });
const calls: number[] = [];
for (let i = 0; i < pings; i++) {
  const start = absoluteNow();
  await tiny.run(tinyInput, { out: tinyOut });
  calls.push(absoluteNow() - start);
}
console.log(`empty task round trip: median ${fmt(median(trips))} over ${pings} (target < 100 µs); whole engine call on 1x1x1x1: median ${fmt(median(calls))}`);

for (const e of engines.values()) await e.close();
