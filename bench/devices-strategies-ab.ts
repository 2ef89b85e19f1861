// A zoo model on devices by its channels plan, its data plan and on one
// device, in ONE process, alternating: each round runs one pass of each (order
// rotating), after a warm-up pass each. Figures are medians of wall times and
// of per-round ratios to one device, with the bytes the channels split moved
// and the load other processes put on the machine. The outputs are checked to
// be the same bits.
//   flock /tmp/groupconv-bench.lock npx tsx bench/devices-strategies-ab.ts --model resnext-block --input 256x28x28 [--batch 4] [--devices 2] [--rounds 7]
import { parseArgs } from 'node:util';
import { ModelDevices } from '../src/devices/model-devices.js';
import { moduleSource } from '../src/devices/model-source.js';
import { randomInput } from '../src/devices/run-model.js';
import { errors } from '../src/errors.js';
import { SPLIT_MODELS } from '../src/split/zoo.js';
import { median, quantile } from '../src/statistics.js';
import { otherCoresSince } from './support/load-probe.js';
import { perRoundRatios, rotated } from './support/rounds.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnext-block' },
    input: { type: 'string' },
    batch: { type: 'string', default: '4' },
    devices: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '7' },
  },
});
const entry = SPLIT_MODELS[values.model!];
if (!entry || values.model === 'alexnet') throw errors.badFlag('--model', `one of ${Object.keys(SPLIT_MODELS).filter((n) => n !== 'alexnet').join(', ')}`);
const image = values.input ? values.input.split('x').map(Number) : [...entry.inputShape];
const batch = Number(values.batch);
const D = Number(values.devices);
const rounds = Number(values.rounds);

const model = entry.build(1);
const source = moduleSource(model);
const x = randomInput([batch, ...image], 2);
const contenders = [
  { name: '1 device', devices: await ModelDevices.create(source, { devices: 1, strategy: 'data', batch, inputShape: image }) },
  { name: `${D} devices, data`, devices: await ModelDevices.create(source, { devices: D, strategy: 'data', batch, inputShape: image }) },
  { name: `${D} devices, channels`, devices: await ModelDevices.create(source, { devices: D, strategy: 'channels', batch, inputShape: image }) },
];
const walls = contenders.map((): number[] => []);
let moved = 0;
let same = true;
const others = otherCoresSince();
try {
  const reference = (await contenders[0].devices.forward(x)).output;
  for (const c of contenders.slice(1)) await c.devices.forward(x);
  for (let r = 0; r < rounds; r++) {
    for (const k of rotated([0, 1, 2], r)) {
      const { output, run } = await contenders[k].devices.forward(x);
      walls[k].push(run.wallMs);
      if (k === 2) moved = run.exchangedBytes.reduce((a, b) => a + b, 0);
      const a = new Uint32Array(output.data.buffer, output.data.byteOffset, output.data.length);
      const b = new Uint32Array(reference.data.buffer, reference.data.byteOffset, reference.data.length);
      same &&= a.length === b.length && a.every((v, i) => v === b[i]);
    }
  }
} finally {
  await Promise.all(contenders.map((c) => c.devices.close()));
}
const load = others();
console.log(`${model.constructor.name}, input ${image.join('x')}, batch ${batch}, ${rounds} rounds; other processes kept ${load === null ? '?' : load.toFixed(2)} cores busy`);
contenders.forEach((c, k) => {
  const ratios = perRoundRatios(walls[0], walls[k]);
  console.log(
    `${c.name.padEnd(22)} ${median(walls[k]).toFixed(1).padStart(8)} ms  speedup over 1 device ${median(ratios).toFixed(2)}x (quartiles ${quantile(ratios, 0.25).toFixed(2)}-${quantile(ratios, 0.75).toFixed(2)})`,
  );
});
console.log(`channels split moved ${(moved / 1024).toFixed(1)} KiB between devices per pass; outputs ${same ? 'bitwise identical' : 'DIFFER'}`);
