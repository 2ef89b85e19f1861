// A/B of the engine's worker placement (src/engine/placement.ts) in one
// process: an engine with callingThread on 2 workers (its workers kept off the
// calling thread's CPU), or with --workers-only one without (a cut's workers
// spread one a CPU), runs an ONNX model's forward with the placement on and
// off, alternated round by round.
// Each round pauses (a request at a time: the workers park and the second CPU
// idles), makes one untimed call, then times one, as bench:peers does. The
// program's way is forced to the cut (the placement matters only where a run
// is cut for several runners); --way choice leaves it to mode-choice.ts.
// Prints per variant the median forward, the share of stages of 2+ tasks that
// one thread ran alone (the two took turns), and the median per-round ratio.
// --between: before each pause, another engine (2 workers, no calling thread)
// runs the same forward, as the other contenders of bench:peers run between
// groupconv's calls; the threads then wake where that left them.
//
//   npx tsx bench/placement-ab.ts --model /tmp/onnx2-full/efficientnet_b0.onnx [--batch 1] [--rounds 30] [--pause 60] [--way cut|choice] [--between] [--workers-only]
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { GroupedConvEngine } from '../src/index.js';
import { ModeChoice } from '../src/engine/mode-choice.js';
import { threadPlacement, usePlacement } from '../src/engine/placement.js';
import { median, quantile } from '../src/statistics.js';
import { captureProgramProfiles, modelAndInput } from './support/program-capture.js';

const { values } = parseArgs({
  options: { model: { type: 'string' }, batch: { type: 'string', default: '1' }, rounds: { type: 'string', default: '30' }, pause: { type: 'string', default: '60' }, way: { type: 'string', default: 'cut' }, between: { type: 'boolean', default: false }, 'workers-only': { type: 'boolean', default: false } },
});
if (!values.model) throw new Error('--model FILE.onnx is required');
if (!threadPlacement()) throw new Error('the placement needs the native addon (npm run build:native) on Linux');
if (values.way === 'cut') ModeChoice.prototype.next = () => ({ way: 'staged', counted: false });
const { model, x } = modelAndInput(values.model, Number(values.batch));
const profiles = captureProgramProfiles();
const engine = new GroupedConvEngine({ workers: 2, callingThread: !values['workers-only'] });
const other = values.between ? new GroupedConvEngine({ workers: 1, callingThread: true }) : null;
for (let i = 0; i < 40; i++) {
  await model.forwardWith(engine, x);
  if (other) await model.forwardWith(other, x);
}
const variants = ['on', 'off'] as const;
const ms: Record<string, number[]> = { on: [], off: [] };
const alone: Record<string, number[]> = { on: [], off: [] };
for (let round = 0; round < Number(values.rounds); round++) {
  for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
    usePlacement(v === 'on');
    if (other) await model.forwardWith(other, x);
    await sleep(Number(values.pause));
    await model.forwardWith(engine, x);
    profiles.take();
    const t0 = performance.now();
    await model.forwardWith(engine, x);
    ms[v].push(performance.now() - t0);
    const shared = profiles.take().flatMap((p) => (p.runners > 1 ? p.stages.filter((s) => s.tasks > 1) : []));
    if (shared.length > 0) alone[v].push(shared.filter((s) => s.threads.length === 1).length / shared.length);
  }
}
const ratios = ms.on.map((t, i) => ms.off[i] / t);
for (const v of variants) {
  console.log(`placement ${v.padEnd(3)}: forward ${median(ms[v]).toFixed(2)} ms [${quantile(ms[v], 0.25).toFixed(2)}-${quantile(ms[v], 0.75).toFixed(2)}]; cut runs whose multi-task stages one thread ran alone: ${alone[v].length ? `${(100 * median(alone[v])).toFixed(0)}% (median), ${alone[v].filter((a) => a > 0.5).length} of ${alone[v].length} runs over half` : 'none cut'}`);
}
console.log(`on over off, per round: ${median(ratios).toFixed(2)}x [${quantile(ratios, 0.25).toFixed(2)}-${quantile(ratios, 0.75).toFixed(2)}] over ${ratios.length} rounds`);
await engine.close();
await other?.close();
model.close();
