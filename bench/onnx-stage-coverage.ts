// Which plan steps of ONNX models have a worker stage (src/onnx/worker-stages.ts):
// per model, the steps by op type run as ranged kernels, as aliases, and on the
// calling thread (Conv is the engine's, not a stage).
//   npx tsx bench/onnx-stage-coverage.ts FILE.onnx... [--size 224]
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { loadOnnx } from '../src/index.js';
import { workerStageOf } from '../src/onnx/worker-stages.js';

const { values, positionals } = parseArgs({ options: { size: { type: 'string', default: '224' } }, allowPositionals: true });
const size = Number(values.size);
for (const file of positionals) {
  const model = loadOnnx(file);
  const plan = model.planFor({ [model.inputs[0].name]: [1, 3, size, size] });
  const count = { ranged: new Map<string, number>(), alias: new Map<string, number>(), none: new Map<string, number>() };
  for (const step of plan.steps) {
    const stage = workerStageOf(step, plan);
    const bucket = stage ? count[stage.kind] : count.none;
    bucket.set(step.node.opType, (bucket.get(step.node.opType) ?? 0) + 1);
  }
  const list = (m: Map<string, number>) => [...m].sort().map(([op, n]) => `${op} ${n}`).join(', ') || '-';
  console.log(`${basename(file)}: ${plan.steps.length} steps\n  ranged: ${list(count.ranged)}\n  alias: ${list(count.alias)}\n  calling thread: ${list(count.none)}`);
  model.close();
}
