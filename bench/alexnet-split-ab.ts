// A/B of AlexNet's channels split in one process: this tree's SplitAlexNet
// against another checkout's (say, main), on 1 and N devices each, the four
// alternated pass by pass (the variants' order swapped every round) so a load
// that comes and goes weighs on all alike. Per variant: the median pass as
// SplitRun.wallMs reports it and as the caller sees it (forward() from call to
// result, the host's per-pass checks and planning included), the speedup of N
// devices over 1 (medians of the per-round ratios), and from Linux's
// /proc/self/task/*/schedstat the CPU time of the busiest threads over each
// pass (the devices): one device's CPU time over the busiest of N devices' is
// the speedup a machine with a free core per device would show if no device
// waited for another; the host thread's CPU time over the pass (serial: it
// stages the image before any device starts, gathers the logits after all
// have ended) is added to both. The host's wall share (its call to the first
// device's start, the last device's end to the logits) is shown too. The logits of
// every pass are checked bit for bit against the first variant's one device.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/alexnet-split-ab.ts --before /tmp/alexnet-base [--devices 2] [--batch 8] [--rounds 7]
//
// (--before: a checkout with node_modules, e.g. `git -C /work/main archive HEAD | tar -x -C DIR`
// and a node_modules symlink.)
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errors } from '../src/errors.js';
import { median } from '../src/statistics.js';
import { schedstat } from './support/schedstat.js';
import type { Tensor } from '../src/tensor/tensor.js';

type SplitModule = typeof import('../src/devices/split-model.js');
type RunSplitModule = typeof import('../src/devices/run-split.js');
type AlexNetModule = typeof import('../src/models/alexnet.js');

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    devices: { type: 'string', default: '2' },
    batch: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '7' },
  },
});
if (!values.before) throw errors.badFlag('--before', 'a checkout to compare with is required');
const devices = Number(values.devices);
const batch = Number(values.batch);
const rounds = Number(values.rounds);

async function load(root: string) {
  const split = (await import(resolve(root, 'src/devices/split-model.ts'))) as SplitModule;
  const run = (await import(resolve(root, 'src/devices/run-split.ts'))) as RunSplitModule;
  const alexnet = (await import(resolve(root, 'src/models/alexnet.ts'))) as AlexNetModule;
  return { split, run, alexnet };
}

const variants = [
  { name: 'before', modules: await load(values.before) },
  { name: 'after', modules: await load('.') },
];

interface Sample {
  wallMs: number;
  callMs: number;
  cpuMs: number;
  hostCpuMs: number;
  hostMs: number;
}

interface Setup {
  name: string;
  x: Tensor;
  counts: number[];
  splits: Awaited<ReturnType<SplitModule['SplitAlexNet']['create']>>[];
  samples: Sample[][];
}

const setups: Setup[] = [];
for (const v of variants) {
  const { split, run, alexnet } = v.modules;
  const model = new alexnet.AlexNet();
  const x: Tensor = run.randomImages(batch, split.alexNetInputSize(model.config.pooled), 1);
  const counts = [1, devices];
  const splits = [];
  for (const count of counts) splits.push(await split.SplitAlexNet.create(model, { devices: count, batch, budgetBytes: Infinity }));
  setups.push({ name: v.name, x, counts, splits, samples: counts.map(() => []) });
}

let reference: Uint32Array | null = null;
function check(name: string, count: number, logits: Tensor): void {
  const bits = new Uint32Array(logits.data.buffer, logits.data.byteOffset, logits.data.length);
  reference ??= bits.slice();
  const want = reference;
  if (bits.some((b, i) => b !== want[i])) throw errors.benchCheck(`${name} on ${count} devices: logits differ from before on 1 device`);
}

async function pass(setup: Setup, index: number): Promise<Sample> {
  const split = setup.splits[index];
  const before = schedstat();
  const start = performance.now();
  const logits = await split.forward(setup.x);
  const callMs = performance.now() - start;
  const after = schedstat();
  check(setup.name, setup.counts[index], logits);
  const used = (tid: string) => (after.get(tid)![0] - (before.get(tid)?.[0] ?? 0)) / 1e6;
  const host = String(process.pid); // the main thread's id is the process's
  const cpu = [...after.keys()].filter((tid) => tid !== host).map(used).sort((a, b) => b - a);
  const run = split.lastRun!;
  const { startedAt, endedAt, devices: timelines } = run.timeline;
  const first = Math.min(...timelines.map((events) => events[0].start));
  const last = Math.max(...timelines.map((events) => events[events.length - 1].end));
  // The busiest thread is a device (the host waits): the busiest device's CPU time.
  return { wallMs: run.wallMs, callMs, cpuMs: cpu[0], hostCpuMs: used(host), hostMs: first - startedAt + (endedAt - last) };
}

try {
  for (const setup of setups) for (let i = 0; i < setup.counts.length; i++) await pass(setup, i); // warm: compile, plan
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? setups : [...setups].reverse();
    for (const setup of order) for (let i = 0; i < setup.counts.length; i++) setup.samples[i].push(await pass(setup, i));
  }
  const f = (v: number) => v.toFixed(1);
  console.log(`AlexNet, batch ${batch}, 1 and ${devices} devices, ${rounds} rounds alternated; logits bitwise identical in every pass`);
  console.log(`variant | 1 device ms | ${devices} devices ms | speedup (per-round median, range) | as called: 1 / ${devices} ms | CPU: 1 device / busiest of ${devices} ms | host CPU ms 1 / ${devices} | host wall ms 1 / ${devices} | CPU estimate`);
  for (const { name, samples } of setups) {
    const [one, many] = samples;
    const ratios = one.map((s, r) => s.wallMs / many[r].wallMs);
    const cpuRatios = one.map((s, r) => (s.cpuMs + s.hostCpuMs) / (many[r].cpuMs + many[r].hostCpuMs));
    const med = (list: Sample[], pick: (s: Sample) => number) => median(list.map(pick));
    console.log(
      `${name} | ${f(med(one, (s) => s.wallMs))} | ${f(med(many, (s) => s.wallMs))} | ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x)` +
        ` | ${f(med(one, (s) => s.callMs))} / ${f(med(many, (s) => s.callMs))} | ${f(med(one, (s) => s.cpuMs))} / ${f(med(many, (s) => s.cpuMs))}` +
        ` | ${f(med(one, (s) => s.hostCpuMs))} / ${f(med(many, (s) => s.hostCpuMs))}` +
        ` | ${f(med(one, (s) => s.hostMs))} / ${f(med(many, (s) => s.hostMs))} | ${median(cpuRatios).toFixed(2)}x`,
    );
  }
} finally {
  await Promise.all(setups.flatMap((s) => s.splits.map((split) => split.close())));
}
