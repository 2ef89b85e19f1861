// A whole ONNX model's forwardWith on an engine whose programs go to the
// workers against one whose programs have the calling thread as one of their
// runners (GroupedConvEngineOptions.callingThread), both in this process, alternated
// round by round (--forwards forwards a round). Checks the two give the same
// bits, then prints each one's median ms per forward and their ratio.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/calling-thread-ab.ts --model /tmp/onnx2-full/shufflenet_v2_x1_0.onnx [--batch 1] [--workers 1] [--rounds 40] [--forwards 5]
import { parseArgs } from 'node:util';
import { GroupedConvEngine, loadOnnx, zeros } from '../src/index.js';
import { median } from '../src/statistics.js';

const { values } = parseArgs({
  options: { model: { type: 'string' }, batch: { type: 'string', default: '1' }, workers: { type: 'string', default: '1' }, rounds: { type: 'string', default: '40' }, forwards: { type: 'string', default: '5' } },
});
if (!values.model) throw new Error('--model FILE.onnx is required');
const model = loadOnnx(values.model);
const workers = Number(values.workers);
const variants = [
  { name: 'workers', engine: new GroupedConvEngine({ workers }), ms: [] as number[] },
  { name: 'calling thread', engine: new GroupedConvEngine({ workers, callingThread: true }), ms: [] as number[] },
];
const shape = (model.inputs[0].shape ?? []).map((d, i) => (i === 0 ? Number(values.batch) : typeof d === 'number' ? d : 224));
const x = zeros(shape, { shared: true });
for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i * 0.37);
// 40 warm forwards each: past the mode choice's trials (mode-choice.ts) on several workers.
const outputs: Float32Array[] = [];
for (const v of variants) {
  for (let i = 0; i < 40; i++) await model.forwardWith(v.engine, x);
  outputs.push(Float32Array.from((await model.forwardWith(v.engine, x)).data));
}
const same = outputs[0].every((value, i) => Object.is(value, outputs[1][i]));
const forwards = Number(values.forwards);
for (let r = 0; r < Number(values.rounds); r++) {
  for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
    const t0 = performance.now();
    for (let i = 0; i < forwards; i++) await model.forwardWith(v.engine, x);
    v.ms.push((performance.now() - t0) / forwards);
  }
}
const [w, c] = variants.map((v) => median(v.ms));
console.log(`${values.model} batch ${values.batch}, ${workers} worker(s), ${values.rounds} rounds of ${forwards}: same bits ${same}`);
console.log(`workers ${w.toFixed(3)} ms, calling thread ${c.toFixed(3)} ms per forward: ${(w / c).toFixed(2)}x`);
for (const v of variants) await v.engine.close();
model.close();
