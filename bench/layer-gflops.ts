// Where a whole model's time goes per convolution shape: each step's median time
// at one batch and worker count, its achieved GFLOP/s, and the totals by class
// (pointwise, depthwise 3x3 stride 1 / 2, grouped, dense, and the rest: ranged
// and host ops), so a kernel change can be aimed at the largest loss. With
// --before DIR (a checkout with node_modules) both trees run in this process,
// alternated run by run, and each class and step gets its before/after times.
// A step's time is its share of the program's wall time, so the first and last
// stages carry the hand-offs in and out; --kernel times each by its busiest
// worker's kernel time instead.
//
//   npx tsx bench/layer-gflops.ts --model /tmp/onnx2-full/mobilenet_v2.onnx --batch 8 --workers 1 --runs 7 [--before /tmp/base]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ModelProfile } from '../src/onnx/engine-run.js';
import { median } from '../src/statistics.js';
import { convShape } from './support/conv-shape.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, batch: { type: 'string', default: '8' }, workers: { type: 'string', default: '1' }, runs: { type: 'string', default: '7' },
    top: { type: 'string', default: '0' }, json: { type: 'string' }, before: { type: 'string' }, kernel: { type: 'boolean', default: false },
  },
});
type Api = typeof import('../src/index.js');
const trees: Array<{ name: string; api: Api }> = [{ name: 'after', api: await import('../src/index.js') }];
if (values.before) trees.unshift({ name: 'before', api: (await import(resolve(values.before, 'src/index.ts'))) as Api });
const batch = Number(values.batch);

/** The step's convolution shape and class, from the engine step's weight and setup. */
function shapesOf(api: Api, model: ReturnType<Api['loadOnnx']>, engine: InstanceType<Api['GroupedConvEngine']>, shape: number[]) {
  const shapes = new Map<number, { label: string; cls: string }>();
  for (const [index, step] of model.executionFor(engine, { [model.inputs[0].name]: shape }).steps.entries()) {
    if (step.kind === 'engine') shapes.set(index, convShape(step));
  }
  void api;
  return shapes;
}

const setups = trees.map(({ name, api }) => {
  const model = api.loadOnnx(values.model!);
  const shape = (model.inputs[0].shape ?? []).map((d, i) => (i === 0 ? batch : (d as number)));
  const x = api.zeros(shape, { shared: true });
  for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i * 0.37);
  const engine = new api.GroupedConvEngine({ workers: Number(values.workers) });
  return { name, model, x, engine, shapes: shapesOf(api, model, engine, shape), profiles: [] as ModelProfile[], walls: [] as number[] };
});
for (const s of setups) for (let i = 0; i < 3; i++) await s.model.forwardWith(s.engine, s.x);
for (let r = 0; r < Number(values.runs); r++) {
  for (const s of r % 2 === 0 ? setups : [...setups].reverse()) {
    const t0 = performance.now();
    s.profiles.push((await s.model.forwardWith(s.engine, s.x, { profile: true })).profile!);
    s.walls.push(performance.now() - t0);
  }
}
for (const s of setups) {
  await s.engine.close();
  s.model.close();
}

const rowsOf = (s: (typeof setups)[number]) =>
  s.profiles[0].steps.map((step, i) => {
    // --kernel: the step's kernel time (busiest worker), without the hand-offs a program's first and last stages carry.
    const ms = median(s.profiles.map((p) => (values.kernel ? (p.steps[i].engine?.kernelMs ?? p.steps[i].ms) : p.steps[i].ms)));
    const sh = s.shapes.get(i);
    return { index: i, op: step.opType, shape: sh?.label ?? '', cls: sh?.cls ?? `other: ${step.opType.split('+')[0]}`, flops: step.flops, ms, gflops: step.flops / (ms * 1e6) };
  });
const rows = setups.map(rowsOf);
const last = rows.at(-1)!;
const names = setups.map((s) => s.name);
console.log(`${values.model} batch ${batch}, ${values.workers} worker(s), ${values.runs} runs: forward median ${setups.map((s) => `${s.name} ${median(s.walls).toFixed(1)} ms`).join(', ')}`);
const byClass = (rs: typeof last) => {
  const m = new Map<string, { ms: number; flops: number; n: number }>();
  for (const r of rs) {
    const c = m.get(r.cls) ?? { ms: 0, flops: 0, n: 0 };
    c.ms += r.ms; c.flops += r.flops; c.n++;
    m.set(r.cls, c);
  }
  return m;
};
const classes = rows.map(byClass);
const total = last.reduce((t, r) => t + r.ms, 0);
console.log(`class                     steps  GFLOP  ${names.map((n) => `${n} ms  GFLOP/s`.padStart(20)).join('')}  share`);
for (const [cls, c] of [...classes.at(-1)!].sort((a, b) => b[1].ms - a[1].ms)) {
  const cells = classes.map((m) => { const k = m.get(cls)!; return `${k.ms.toFixed(1).padStart(10)} ${(k.flops / (k.ms * 1e6)).toFixed(1).padStart(8)}`; }).join('  ');
  console.log(`${cls.padEnd(24)} ${String(c.n).padStart(6)} ${(c.flops / 1e9).toFixed(2).padStart(6)}  ${cells}  ${((100 * c.ms) / total).toFixed(1).padStart(5)}%`);
}
const top = Number(values.top) || last.length;
console.log(`\nstep  shape                              ${names.map((n) => `${n} ms GFLOP/s`.padStart(18)).join('')}  op`);
for (const r of [...last].sort((a, b) => b.ms - a.ms).slice(0, top)) {
  const cells = rows.map((rs) => `${rs[r.index].ms.toFixed(2).padStart(9)} ${rs[r.index].gflops.toFixed(1).padStart(7)}`).join(' ');
  console.log(`${String(r.index).padStart(4)}  ${r.shape.padEnd(32)} ${cells}  ${r.op}`);
}
if (values.json) (await import('node:fs')).writeFileSync(values.json, JSON.stringify(Object.fromEntries(setups.map((s, i) => [s.name, rows[i]])), null, 1));
