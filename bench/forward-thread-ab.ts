// A/B of OnnxModel.forward on the calling thread: this tree against the
// checkout at --before, alternating in one process, each variant its own
// arena. Prints per variant the median ms per forward and the per-round ratio.
//   npx tsx bench/forward-thread-ab.ts --before /tmp/base --model M.onnx --batch 1 --rounds 9 --runs 5
import { performance } from 'node:perf_hooks';
import { median } from '../src/statistics.js';
import { errors } from '../src/errors.js';
import { modelAbArgs } from './model-ab-args.js';

const args = await modelAbArgs({ rounds: 9, runs: 5 });
const setups = args.variants.map((v) => {
  const model = v.api.loadOnnx(args.model);
  const shape = (model.inputs[0].shape ?? []).map((d, i) => (i === 0 ? args.batch : (d as number)));
  const x = v.api.zeros(shape);
  for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i * 0.37);
  return { ...v, model, x };
});
const outputs = setups.map((s) => s.model.forward(s.x));
if (outputs[0].data.some((value, i) => !Object.is(value, outputs[1].data[i]))) throw errors.benchCheck('before and after disagree');
const ms = new Map(setups.map((s) => [s.name, [] as number[]]));
const ratios: number[] = [];
for (let round = 0; round < args.rounds; round++) {
  const order = round % 2 === 0 ? setups : [...setups].reverse();
  const thisRound = new Map<string, number>();
  for (const s of order) {
    const t = performance.now();
    for (let r = 0; r < args.runs; r++) s.model.forward(s.x);
    const each = (performance.now() - t) / args.runs;
    ms.get(s.name)!.push(each);
    thisRound.set(s.name, each);
  }
  ratios.push(thisRound.get('before')! / thisRound.get('after')!);
}
for (const s of setups) console.log(`${s.name.padEnd(7)} ${median(ms.get(s.name)!).toFixed(2)} ms per forward (batch ${args.batch}, median of ${args.rounds} rounds of ${args.runs})`);
console.log(`after is ${median(ratios).toFixed(2)}x as fast as before (median of per-round ratios; range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`);
for (const s of setups) s.model.close();
