// The host kernels of one model's plan, op type by op type, in two source
// trees in one process (as bench/onnx-host-ab.ts): each tree runs the fused
// schedule once to get every step's inputs, then each round times every
// single step (not the fused convolutions) in both trees, alternating which
// goes first. Prints per op type the median per-round ms of each tree and
// their ratio, and whether every step's outputs are bitwise equal.
//   npx tsx bench/onnx-host-ops-ab.ts --model FILE.onnx --base DIR [--batch 1] [--rounds 9] [--size 224]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../src/statistics.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, base: { type: 'string' }, batch: { type: 'string', default: '1' }, rounds: { type: 'string', default: '9' }, size: { type: 'string', default: '224' } } });
if (!values.model || !values.base) {
  console.error('usage: bench/onnx-host-ops-ab.ts --model FILE.onnx --base DIR [--batch N] [--rounds N] [--size N]');
  process.exit(2);
}
/* eslint-disable @typescript-eslint/no-explicit-any */
type Step = { name: string; opType: string; run: () => { data: ArrayLike<number> }[] };

async function stepsOf(root: string): Promise<Step[]> {
  const url = (p: string) => pathToFileURL(resolve(root, p)).href;
  const { loadOnnx } = await import(url('src/index.ts'));
  const { runFusedOnThread } = await import(url('src/onnx/fuse.ts'));
  const { floatValue } = await import(url('src/onnx/value.ts'));
  const model = loadOnnx(values.model!);
  const size = Number(values.size);
  const shape = [Number(values.batch), 3, size, size];
  const plan = model.planFor({ [model.inputs[0].name]: shape });
  const data = new Float32Array(shape.reduce((a, d) => a * d, 1));
  let seed = 1;
  for (let i = 0; i < data.length; i++) data[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const env = new Map<string, any>(plan.constants);
  env.set(model.inputs[0].name, floatValue(shape, data));
  const steps: Step[] = [];
  for (const s of plan.schedule.steps) {
    if (s.kind === 'fused') {
      const f = s.fused;
      env.set(f.output, runFusedOnThread(f, env.get(f.input), f.residual === null ? undefined : env.get(f.residual)));
      continue;
    }
    const step = plan.steps[s.index];
    const inputs = step.inputs.map((n: string) => (n === '' ? undefined : env.get(n)));
    const run = () => step.run(inputs);
    run().forEach((v: any, i: number) => step.outputs[i] !== '' && env.set(step.outputs[i], v));
    steps.push({ name: step.node.name, opType: step.node.opType, run });
  }
  return steps;
}

const trees = [resolve(import.meta.dirname, '..'), values.base];
const steps = [await stepsOf(trees[0]), await stepsOf(trees[1])];
let equal = steps[0].length === steps[1].length;
for (let i = 0; equal && i < steps[0].length; i++) {
  const [a, b] = [steps[0][i].run(), steps[1][i].run()];
  equal = a.length === b.length && a.every((v, j) => v.data.length === b[j].data.length && Array.from(v.data).every((x, k) => Object.is(x, b[j].data[k])));
}
const perType = new Map<string, number[][]>();
for (let r = 0; r < Number(values.rounds); r++) {
  const sums = [new Map<string, number>(), new Map<string, number>()];
  for (let i = 0; i < steps[0].length; i++) {
    for (const t of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const s = steps[t][i];
      const t0 = performance.now();
      s.run();
      sums[t].set(s.opType, (sums[t].get(s.opType) ?? 0) + performance.now() - t0);
    }
  }
  for (const [op] of sums[0]) {
    const entry = perType.get(op) ?? [[], []];
    entry[0].push(sums[0].get(op)!);
    entry[1].push(sums[1].get(op)!);
    perType.set(op, entry);
  }
}
console.log(`op type: this tree / base ms per forward (median of rounds), base/this; ${steps[0].length} host steps; outputs bitwise equal: ${equal}`);
for (const [op, [a, b]] of [...perType].sort((x, y) => median(y[1][1]) - median(x[1][1]))) {
  console.log(`  ${op}: ${median(a).toFixed(2)} / ${median(b).toFixed(2)} ms, ${(median(b) / median(a)).toFixed(2)}x`);
}
