// How much of a forward's task time on the calling thread is spent inside the
// native kernels' calls, and in which: the rest is the runner's JavaScript
// between them (claims, slices, operand checks, times). The calling thread is
// runner 0 (callingThread), so the native exports can be wrapped here; a
// worker's share is alike. Task time comes from profiled runs (the native
// calls time each task), one profile per forward.
//
//   npx tsx bench/native-share.ts --model /tmp/onnx2-full/shufflenet_v2_x1_0.onnx --batch 8 [--workers 2] [--runs 30]
import { parseArgs } from 'node:util';
import { EngineProgram, GroupedConvEngine, type ProgramProfile } from '../src/index.js';
import { nativeKernels } from '../src/kernels/native/index.js';
import { modelAndInput } from './support/program-capture.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, batch: { type: 'string', default: '8' }, workers: { type: 'string', default: '2' }, runs: { type: 'string', default: '30' } } });
const runs = Number(values.runs);
const { model, x } = modelAndInput(values.model!, Number(values.batch));
const engine = new GroupedConvEngine({ workers: Number(values.workers), callingThread: true });
await engine.warmup();
for (let i = 0; i < 30; i++) await model.forwardWith(engine, x);

const native = nativeKernels() as unknown as Record<string, (...args: unknown[]) => unknown> | null;
if (!native) throw new Error('the native kernels do not run here');
const spent = new Map<string, { ms: number; calls: number }>();
for (const name of ['pointwise', 'depthwise', 'depthwiseAcrossChannels', 'dense', 'maxPool', 'globalAverage', 'copyRuns', 'linear', 'runStages', 'runStageTasks']) {
  const call = native[name];
  native[name] = (...args: unknown[]) => {
    const start = performance.now();
    const result = call(...args);
    const entry = spent.get(name) ?? { ms: 0, calls: 0 };
    entry.ms += performance.now() - start;
    entry.calls++;
    spent.set(name, entry);
    return result;
  };
}
let profiles: ProgramProfile[] = [];
const run = EngineProgram.prototype.run;
EngineProgram.prototype.run = async function (this: EngineProgram, buffers, options) {
  const profile = (await run.call(this, buffers, { profile: true }))!;
  profiles.push(profile);
  return options?.profile ? profile : null;
};
let taskMs = 0;
let forwardMs = 0;
for (let i = 0; i < runs; i++) {
  profiles = [];
  const start = performance.now();
  await model.forwardWith(engine, x);
  forwardMs += performance.now() - start;
  for (const p of profiles) for (const s of p.stages) s.taskMs.forEach((ms, k) => (taskMs += s.taskThreads[k] === 0 ? ms : 0));
}
const inNative = [...spent.values()].reduce((sum, e) => sum + e.ms, 0);
console.log(`per forward: ${(forwardMs / runs).toFixed(2)} ms; the calling thread's tasks ${(taskMs / runs).toFixed(2)} ms, of which in native calls ${(inNative / runs).toFixed(2)} ms`);
console.log([...spent].map(([name, e]) => `${name} ${(e.ms / runs).toFixed(2)} ms in ${Math.round(e.calls / runs)} calls`).join(', '));
await engine.close();
model.close();
