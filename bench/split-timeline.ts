// Where a split pass's wall time goes, from the devices' own timestamps:
// alternates passes of AlexNet on 1 and on N devices in one process, and per
// pass reports the wall time, each device's busy time (compute, assembly,
// sends, the image and logits copies) and its time waiting for pieces, and
// the host's share (from its call to the first device's start, and from the
// last device's end to the logits). The "balanced" figure is what N devices
// would take if the busiest device never waited: one device's wall over it is
// the speedup a machine with a core per device and no other load would give.
// Each thread's CPU time and run-queue wait over the pass come from Linux's
// /proc/self/task/*/schedstat: the device threads are the busiest ones, and
// one device's CPU time over the busiest device's is the speedup left once the
// load of other processes (the run-queue wait) is taken out.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/split-timeline.ts [--devices 2] [--batch 8] [--rounds 5]
import { parseArgs } from 'node:util';
import { AlexNet } from '../src/models/alexnet.js';
import { randomImages } from '../src/devices/run-split.js';
import { alexNetInputSize, SplitAlexNet, type SplitRun } from '../src/devices/split-model.js';
import { median } from '../src/statistics.js';
import { schedstat } from './support/schedstat.js';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '2' }, batch: { type: 'string', default: '8' }, rounds: { type: 'string', default: '5' } } });
const devices = Number(values.devices);
const batch = Number(values.batch);
const rounds = Number(values.rounds);

interface Breakdown {
  wallMs: number;
  busyMs: number[];
  waitMs: number[];
  hostMs: number;
}

/**
 * The `count` busiest threads over a pass: their CPU ms and run-queue ms,
 * busiest first; and the CPU ms of every other thread of the process (the
 * host, V8's compiler and garbage collector threads), which on 2 cores takes
 * its time from a device.
 */
async function threadTimes(pass: () => Promise<unknown>, count: number): Promise<{ cpuMs: number[]; queuedMs: number[]; othersMs: number }> {
  const before = schedstat();
  await pass();
  const after = schedstat();
  const deltas = [...after].map(([tid, [run, wait]]) => {
    const [run0, wait0] = before.get(tid) ?? [0, 0];
    return [(run - run0) / 1e6, (wait - wait0) / 1e6];
  });
  deltas.sort((a, b) => b[0] - a[0]);
  const top = deltas.slice(0, count);
  const othersMs = deltas.slice(count).reduce((sum, d) => sum + d[0], 0);
  return { cpuMs: top.map((d) => d[0]), queuedMs: top.map((d) => d[1]), othersMs };
}

function breakdown(run: SplitRun): Breakdown {
  const { startedAt, endedAt, devices: timelines } = run.timeline;
  const busyMs = timelines.map((events) => events.filter((e) => e.kind !== 'receive').reduce((sum, e) => sum + e.end - e.start, 0));
  // A device's receives of one layer share one wait: count each layer's once.
  const waitMs = timelines.map((events) => {
    const byLayer = new Map<number, number>();
    for (const e of events) if (e.kind === 'receive') byLayer.set(e.layer, e.end - e.start);
    return [...byLayer.values()].reduce((a, b) => a + b, 0);
  });
  const first = Math.min(...timelines.map((events) => events[0].start));
  const last = Math.max(...timelines.map((events) => events[events.length - 1].end));
  return { wallMs: endedAt - startedAt, busyMs, waitMs, hostMs: first - startedAt + (endedAt - last) };
}

/** Each send's duration (copy out and post), and for receives whose device was already waiting when the send began, from then to the receiver going on. */
function transfers(run: SplitRun): { sends: number[]; deliveries: number[] } {
  const timelines = run.timeline.devices;
  const sends = timelines.flatMap((events) => events.filter((e) => e.kind === 'send'));
  const deliveries: number[] = [];
  timelines.forEach((events, d) => {
    for (const r of events.filter((e) => e.kind === 'receive')) {
      const send = timelines[r.peer!].find((e) => e.kind === 'send' && e.layer === r.layer && e.peer === d)!;
      if (r.start < send.start) deliveries.push(r.end - send.start);
    }
  });
  return { sends: sends.map((e) => e.end - e.start), deliveries };
}

const model = new AlexNet();
const side = alexNetInputSize(model.config.pooled);
const x = randomImages(batch, side);
const split = await SplitAlexNet.create(model, { devices, batch, budgetBytes: Infinity });
const single = await SplitAlexNet.create(model, { devices: 1, batch, budgetBytes: Infinity });
try {
  await split.forward(x);
  await single.forward(x);
  const rows: { one: number; n: Breakdown; oneCpu: number; cpu: number[]; queued: number[]; othersMs: number; sends: number[]; deliveries: number[] }[] = [];
  const layerRows: number[][][] = [];
  for (let r = 0; r < rounds; r++) {
    const oneTimes = await threadTimes(() => single.forward(x), 1);
    const one = single.lastRun!.wallMs;
    const times = await threadTimes(() => split.forward(x), devices);
    rows.push({ one, n: breakdown(split.lastRun!), oneCpu: oneTimes.cpuMs[0], cpu: times.cpuMs, queued: times.queuedMs, othersMs: times.othersMs, ...transfers(split.lastRun!) });
    layerRows.push(split.lastRun!.layers.map((l, i) => [single.lastRun!.layers[i].devices[0].computeMs, ...l.devices.map((d) => d.computeMs)]));
  }
  const f = (v: number) => v.toFixed(1);
  console.log(`AlexNet, batch ${batch}: 1 device vs ${devices} devices, ${rounds} alternated rounds (ms)`);
  console.log(`round | 1 device | ${devices} devices | speedup | busy per device | waiting per device | host | balanced speedup`);
  rows.forEach(({ one, n }, r) => {
    const busiest = Math.max(...n.busyMs);
    console.log(
      `${r + 1} | ${f(one)} | ${f(n.wallMs)} | ${(one / n.wallMs).toFixed(2)}x | ${n.busyMs.map(f).join(' / ')} | ${n.waitMs.map(f).join(' / ')} | ${f(n.hostMs)} | ${(one / (busiest + n.hostMs)).toFixed(2)}x`,
    );
  });
  console.log(`\nCPU time of the busiest threads per pass (ms), and their wait on the run queue (other load):`);
  console.log(`round | 1 device CPU | ${devices} devices CPU | run-queue wait | other threads' CPU (host, compiler, GC) | CPU speedup`);
  rows.forEach((row, r) =>
    console.log(`${r + 1} | ${f(row.oneCpu)} | ${row.cpu.map(f).join(' / ')} | ${row.queued.map(f).join(' / ')} | ${f(row.othersMs)} | ${(row.oneCpu / row.cpu[0]).toFixed(2)}x`),
  );
  console.log(`median | ${f(median(rows.map((r) => r.oneCpu)))} | busiest ${f(median(rows.map((r) => r.cpu[0])))} | | ${median(rows.map((r) => r.oneCpu / r.cpu[0])).toFixed(2)}x`);
  console.log(`\nper layer, median compute ms: 1 device | each of ${devices} devices | 1 device over the slowest`);
  split.layers.forEach((spec, i) => {
    const cols = layerRows[0][i].map((_, c) => median(layerRows.map((row) => row[i][c])));
    const slowest = Math.max(...cols.slice(1));
    if (cols[0] >= 1) console.log(`${spec.label} | ${f(cols[0])} | ${cols.slice(1).map(f).join(' / ')} | ${(cols[0] / slowest).toFixed(2)}x`);
  });
  // What a transfer costs: the sender's copy out and post, and, where the receiver was already waiting, from the send's start to the receiver going on.
  const sendMs = rows.flatMap((row) => row.sends);
  const deliveryMs = rows.flatMap((row) => row.deliveries);
  console.log(
    `\ntransfers: ${sendMs.length} sends, copy out + post median ${median(sendMs).toFixed(3)} ms (max ${Math.max(...sendMs).toFixed(3)}); ` +
      `send start to receiver going on, when it waited: median ${deliveryMs.length ? median(deliveryMs).toFixed(3) : '-'} ms over ${deliveryMs.length}`,
  );
  const med = (pick: (row: (typeof rows)[number]) => number) => median(rows.map(pick));
  console.log(
    `median | ${f(med((r) => r.one))} | ${f(med((r) => r.n.wallMs))} | ${med((r) => r.one / r.n.wallMs).toFixed(2)}x | busiest ${f(med((r) => Math.max(...r.n.busyMs)))} | | ${f(med((r) => r.n.hostMs))} | ${med((r) => r.one / (Math.max(...r.n.busyMs) + r.n.hostMs)).toFixed(2)}x`,
  );
} finally {
  await Promise.all([split.close(), single.close()]);
}
