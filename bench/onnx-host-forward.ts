// OnnxModel.forward on the calling thread, in this source tree: the median ms
// of --runs forwards after two warm-up ones. Run it in two trees, process by
// process alternated, to compare them without sharing a process (two trees in
// one process time differently for the same code: bench/onnx-host-ab.ts).
//   npx tsx bench/onnx-host-forward.ts --model FILE.onnx [--batch 1] [--runs 5] [--size 224]
import { parseArgs } from 'node:util';
import { loadOnnx } from '../src/index.js';
import { median } from '../src/statistics.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, batch: { type: 'string', default: '1' }, runs: { type: 'string', default: '5' }, size: { type: 'string', default: '224' } } });
if (!values.model) {
  console.error('usage: bench/onnx-host-forward.ts --model FILE.onnx [--batch N] [--runs N] [--size N]');
  process.exit(2);
}
const model = loadOnnx(values.model);
const size = Number(values.size);
const shape = [Number(values.batch), 3, size, size];
const data = new Float32Array(shape.reduce((a, d) => a * d, 1));
let seed = 1;
for (let i = 0; i < data.length; i++) data[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const x = { shape, data };
model.forward(x);
model.forward(x);
const times: number[] = [];
for (let r = 0; r < Number(values.runs); r++) {
  const t0 = performance.now();
  model.forward(x);
  times.push(performance.now() - t0);
}
console.log(median(times).toFixed(1));
model.close();
