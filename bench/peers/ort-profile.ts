// onnxruntime-node's own per-node profile of a model (SessionOptions.enableProfiling),
// to set beside groupconv's per-step times (bench/layer-gflops.ts --kernel): each
// node's median kernel time over the runs after the first --skip, the sum by op
// type, and the top nodes, for a [batch, 3, 224, 224] input (torchvision's
// classifiers). Profiling adds a few microseconds to every node, so the sums run
// above an unprofiled forward (efficientnet_b0, batch 1: 13.3 against 10.15 ms).
// Needs bench/peers installed (npm run bench:peers once).
//
//   cd bench/peers && npx tsx ort-profile.ts --model /tmp/onnx2-full/efficientnet_b0.onnx [--threads 1] [--batch 1] [--runs 40] [--skip 20] [--top 15] [--json nodes.json]
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

// onnxruntime-node is installed only in bench/peers/node_modules: imported by name at run time.
type Untyped = any;
const { values } = parseArgs({
  options: {
    model: { type: 'string' }, threads: { type: 'string', default: '1' }, batch: { type: 'string', default: '1' },
    runs: { type: 'string', default: '40' }, skip: { type: 'string', default: '20' }, top: { type: 'string', default: '15' }, json: { type: 'string' },
  },
});
if (!values.model) throw new Error('--model FILE.onnx is required');
// Before the chdir below: a relative --model is the caller's.
const model = resolve(values.model);
// By a variable: the type check (CI's clean clone) runs without bench/peers installed.
const importPeer = (name: string): Promise<Untyped> => import(name);
const ort: Untyped = await importPeer('onnxruntime-node');
const dir = mkdtempSync(join(tmpdir(), 'ort-profile-'));
const previous = process.cwd();
// onnxruntime writes its profile into the working directory.
process.chdir(dir);
try {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(values.threads), interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: 'ort',
  });
  const batch = Number(values.batch);
  const x = new ort.Tensor('float32', Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.37)), [batch, 3, 224, 224]);
  for (let i = 0; i < Number(values.runs); i++) await session.run({ [session.inputNames[0]]: x });
  session.endProfiling();
  const events = JSON.parse(readFileSync(join(dir, readdirSync(dir).filter((f) => f.startsWith('ort')).sort().pop()!), 'utf8')) as Untyped[];
  const nodes = new Map<string, { op: string; us: number[] }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.replace(/_kernel_time$/, '');
    const node = nodes.get(name) ?? { op: e.args.op_name as string, us: [] };
    node.us.push(e.dur as number);
    nodes.set(name, node);
  }
  const skip = Number(values.skip);
  const medianOf = (us: number[]) => {
    const kept = us.slice(skip).sort((a, b) => a - b);
    return kept[kept.length >> 1] ?? 0;
  };
  const rows = [...nodes].map(([name, n]) => ({ name, op: n.op, us: medianOf(n.us) })).sort((a, b) => b.us - a.us);
  const byOp = new Map<string, number>();
  for (const r of rows) byOp.set(r.op, (byOp.get(r.op) ?? 0) + r.us);
  console.log(`${values.model}, batch ${batch}, ${values.threads} thread(s): ${rows.length} nodes, ${(rows.reduce((t, r) => t + r.us, 0) / 1000).toFixed(2)} ms of node time`);
  console.log(`by op, ms: ${[...byOp].sort((a, b) => b[1] - a[1]).map(([op, us]) => `${op} ${(us / 1000).toFixed(2)}`).join(', ')}`);
  for (const r of rows.slice(0, Number(values.top))) console.log(`${(r.us / 1000).toFixed(3).padStart(8)} ms  ${r.op.padEnd(14)} ${r.name}`);
  if (values.json) writeFileSync(resolve(previous, values.json), JSON.stringify(rows, null, 1));
  await session.release();
} finally {
  process.chdir(previous);
  rmSync(dir, { recursive: true, force: true });
}
