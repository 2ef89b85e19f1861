// The host path (OnnxModel.forward on the calling thread) of two source trees
// in one process, alternated round by round: this checkout against another
// (e.g. a `git archive` of an earlier commit with node_modules linked in).
// Prints the median ms per forward of each, their ratio, and whether the two
// outputs are bitwise equal. Beware: the tree loaded first times the same code
// slower (docs/benchmarks.md, "Ranged kernels"); bench/onnx-host-proc-ab.sh
// compares in separate processes.
//   npx tsx bench/onnx-host-ab.ts --model FILE.onnx --base /tmp/base [--batch 1] [--rounds 9]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../src/statistics.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, base: { type: 'string' }, batch: { type: 'string', default: '1' }, rounds: { type: 'string', default: '9' }, size: { type: 'string', default: '224' } } });
if (!values.model || !values.base) {
  console.error('usage: bench/onnx-host-ab.ts --model FILE.onnx --base DIR [--batch N] [--rounds N] [--size N]');
  process.exit(2);
}
type Loader = (path: string) => { forward(x: { shape: number[]; data: Float32Array }): { data: Float32Array }; close(): void };
const load = async (root: string): Promise<Loader> => (await import(pathToFileURL(resolve(root, 'src/index.ts')).href)).loadOnnx;
const variants = [
  { name: 'this tree', model: (await load(resolve(import.meta.dirname, '..')))(values.model) },
  { name: `base (${values.base})`, model: (await load(values.base))(values.model) },
];
const size = Number(values.size);
const shape = [Number(values.batch), 3, size, size];
const data = new Float32Array(shape.reduce((a, d) => a * d, 1));
let seed = 1;
for (let i = 0; i < data.length; i++) data[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const x = { shape, data };
const outputs = variants.map((v) => v.model.forward(x).data);
for (const v of variants) v.model.forward(x);
const same = outputs[0].length === outputs[1].length && outputs[0].every((value, i) => Object.is(value, outputs[1][i]));
const times: number[][] = variants.map(() => []);
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [i, v] of (r % 2 === 0 ? variants : [...variants].reverse()).entries()) {
    const t0 = performance.now();
    v.model.forward(x);
    times[r % 2 === 0 ? i : variants.length - 1 - i].push(performance.now() - t0);
  }
}
const medians = times.map((t) => median(t));
variants.forEach((v, i) => console.log(`${v.name}: ${medians[i].toFixed(1)} ms per forward (batch ${shape[0]})`));
console.log(`ratio base / this: ${(medians[1] / medians[0]).toFixed(3)}; outputs bitwise equal: ${same}`);
for (const v of variants) v.model.close();
