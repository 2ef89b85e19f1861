// An ONNX file on devices by its channels plan, its data plan and on one
// device, in ONE process, alternating: each round runs one pass of each (order
// rotating), after warm-up passes (--warmup, 3: the devices' JavaScript
// kernels are compiled by then). Figures are medians of wall times and
// of per-round ratios to one device, and, per contender, the CPU time of each
// device thread (its own /proc/thread-self/schedstat, through stats()) and of
// the host thread (/proc/self/task/<pid>/schedstat) over a pass (Linux): on a
// machine shared with other processes, wall time includes waiting for a core,
// CPU time does not, so these say what a quiet machine would show. The outputs
// are checked to be the same bits.
//   flock /tmp/groupconv-bench.lock npx tsx bench/onnx-channels-ab.ts --model test/fixtures/onnx/resnext.onnx [--batch 8] [--devices 2] [--rounds 7] [--warmup 3]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ModelDevices } from '../src/devices/model-devices.js';
import { randomInput } from '../src/devices/run-model.js';
import { errors } from '../src/errors.js';
import { loadOnnx } from '../src/onnx/load.js';
import { staticImageShape } from '../src/split/from-onnx.js';
import { median } from '../src/statistics.js';
import { otherCoresSince } from './support/load-probe.js';
import { perRoundRatios, rotated } from './support/rounds.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'test/fixtures/onnx/resnext.onnx' },
    input: { type: 'string' },
    batch: { type: 'string', default: '8' },
    devices: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '3' },
  },
});
const path = values.model!;
const probe = loadOnnx(path);
const image = values.input ? values.input.split('x').map(Number) : staticImageShape(probe);
probe.close();
if (!image) throw errors.badFlag('--input', `${path} has a symbolic image size: give one image's CxHxW`);
const batch = Number(values.batch);
const D = Number(values.devices);
const rounds = Number(values.rounds);
const source = { kind: 'onnx', path } as const;
const x = randomInput([batch, ...image], 2);

/** The host (main) thread's CPU time in ms. */
const hostCpuMs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
/** Each device thread's CPU time in ms. */
const devicesCpuMs = async (split: ModelDevices) => (await split.stats()).map((s) => s.threadCpuMs ?? NaN);

const contenders = [
  { name: '1 device', devices: 1, strategy: 'data' as const },
  { name: `${D} devices, data`, devices: D, strategy: 'data' as const },
  { name: `${D} devices, channels`, devices: D, strategy: 'channels' as const },
];
const split = await Promise.all(contenders.map((c) => ModelDevices.create(source, { devices: c.devices, strategy: c.strategy, batch, inputShape: image })));
const walls = contenders.map((): number[] => []);
/** Per contender and round: the host thread's CPU ms and its device threads' (busiest first). */
const hostCpu = contenders.map((): number[] => []);
const deviceCpu = contenders.map((): number[][] => []);
let moved = 0;
let same = true;
const others = otherCoresSince();
try {
  const reference = (await split[0].forward(x)).output;
  for (let w = 0; w < Number(values.warmup); w++) for (const s of split) await s.forward(x);
  for (let r = 0; r < rounds; r++) {
    for (const k of rotated([0, 1, 2], r)) {
      const before = await devicesCpuMs(split[k]);
      const host0 = hostCpuMs();
      const { output, run } = await split[k].forward(x);
      hostCpu[k].push(hostCpuMs() - host0);
      const after = await devicesCpuMs(split[k]);
      deviceCpu[k].push(after.map((ms, d) => ms - before[d]).sort((a, b) => b - a));
      walls[k].push(run.wallMs);
      if (k === 2) moved = run.exchangedBytes.reduce((a, b) => a + b, 0);
      const a = new Uint32Array(output.data.buffer, output.data.byteOffset, output.data.length);
      const b = new Uint32Array(reference.data.buffer, reference.data.byteOffset, reference.data.length);
      same &&= a.length === b.length && a.every((v, i) => v === b[i]);
    }
  }
} finally {
  await Promise.all(split.map((s) => s.close()));
}
const load = others();
console.log(`${path}, input ${image.join('x')}, batch ${batch}, ${rounds} rounds; other processes kept ${load === null ? '?' : load.toFixed(2)} cores busy`);
const busiest = (k: number) => deviceCpu[k].map((ms) => ms[0]);
contenders.forEach((c, k) => {
  const ratios = perRoundRatios(walls[0], walls[k]);
  // A quiet machine's pass is at least the busiest device's CPU time; the channels pass also waits for the host between nodes.
  const cpuRatio = perRoundRatios(busiest(0), busiest(k));
  const withHost = perRoundRatios(busiest(0).map((ms, i) => ms + hostCpu[0][i]), busiest(k).map((ms, i) => ms + hostCpu[k][i]));
  console.log(
    `${c.name.padEnd(22)} wall ${median(walls[k]).toFixed(1).padStart(7)} ms (${median(ratios).toFixed(2)}x of 1 device)  ` +
      `busiest device thread ${median(busiest(k)).toFixed(1).padStart(6)} ms CPU (${median(cpuRatio).toFixed(2)}x), host ${median(hostCpu[k]).toFixed(1)} ms CPU (device + host: ${median(withHost).toFixed(2)}x)`,
  );
});
console.log(`channels split moved ${(moved / 1024).toFixed(1)} KiB between devices per pass; outputs ${same ? 'bitwise identical' : 'DIFFER'}`);
