// npm run bench:peers: the issue #7 layer suite through groupconv's kernels,
// onnxruntime-node and @tensorflow/tfjs-backend-wasm at 1 and 2 threads.
// Each (engine, threads) runs in its own child process (tfjs fixes its thread
// count at backend start; onnxruntime per session, but a fresh process keeps
// runs independent). Prints GFLOP/s per layer and groupconv / peer ratios.
//
//   npm run bench:peers [-- --runs 7 --layers resnext,depthwise --json out.json]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg } from 'node:os';
import { SUITE, layerFlops, timeRuns, type SuiteLayer } from './suite.js';
import { Random } from '../../src/index.js';

type Engine = 'groupconv' | 'onnxruntime' | 'tfjs-wasm';

// The peers are installed only in examples/peers/node_modules, on demand, so
// they are imported by name at run time (typechecking must not need them).
type Untyped = any;
const importPeer = (name: string): Promise<Untyped> => import(name);
type Seconds = Record<string, { median: number; best: number }>;

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const RUNS = Number(option('runs', '7'));
const WARMUP = Number(option('warmup', '2'));
const LAYER_FILTER = option('layers', '');
const layers = SUITE.filter((l) => !LAYER_FILTER || LAYER_FILTER.split(',').some((part) => l.name.includes(part)));

function randomData(l: SuiteLayer, seed: number): { x: Float32Array; w: Float32Array; b: Float32Array } {
  const r = new Random(seed);
  const fill = (n: number, scale: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = r.normal() * scale;
    return a;
  };
  const [cout, cinG, kh, kw] = l.weight;
  return { x: fill(l.input.reduce((a, b) => a * b), 1), w: fill(cout * cinG * kh * kw, 1 / Math.sqrt(cinG * kh * kw)), b: fill(cout, 0.5) };
}

function outShape(l: SuiteLayer): number[] {
  const [n, , h, w] = l.input;
  const [cout, , kh, kw] = l.weight;
  const { stride, padding } = l.options as { stride: number; padding: number };
  return [n, cout, Math.floor((h + 2 * padding - kh) / stride) + 1, Math.floor((w + 2 * padding - kw) / stride) + 1];
}

/**
 * groupconv: 1 thread is the planned layer on the main thread (packed weights,
 * shared tensors, no copies); 2 threads is GroupedConvEngine with 2 workers
 * (balanced policy) running the same kernels on its prepared layer.
 */
async function measureGroupconv(threads: number): Promise<Seconds> {
  const { zeros, resolveShapes, fullSlice, GroupedConvEngine } = await import('../../src/index.js');
  const { planConv, planScratchFloats, runPlan, releasePlan } = await import('../../src/kernels/plan.js');
  const engine = threads > 1 ? new GroupedConvEngine({ workers: threads, policy: 'balanced' }) : null;
  await engine?.warmup();
  const result: Seconds = {};
  for (const l of layers) {
    const { x, w, b } = randomData(l, 1);
    const sx = zeros(l.input, { shared: true });
    sx.data.set(x);
    const sw = zeros(l.weight, { shared: true });
    sw.data.set(w);
    const sb = zeros([b.length], { shared: true });
    sb.data.set(b);
    const out = zeros(outShape(l), { shared: true });
    if (engine) {
      const layer = engine.layer(sw, sb, l.options);
      result[l.name] = await timeRuns(() => layer.run(sx, { out }), WARMUP, RUNS);
      layer.close();
      continue;
    }
    const { geometry } = resolveShapes(l.input, l.weight, [b.length], l.options);
    const plan = planConv(geometry, sw.data);
    const slice = fullSlice(geometry);
    const scratch = zeros([planScratchFloats(plan, slice)], { shared: true });
    result[l.name] = await timeRuns(() => runPlan(plan, sx.data, sw.data, sb.data, out.data, slice, scratch.data), WARMUP, RUNS);
    releasePlan(plan);
  }
  await engine?.close();
  return result;
}

async function measureOnnxruntime(threads: number): Promise<Seconds> {
  const ort = await importPeer('onnxruntime-node');
  const { onnxConvModel } = await import('./onnx-conv.js');
  const result: Seconds = {};
  for (const l of layers) {
    const { x, w, b } = randomData(l, 1);
    const { stride, padding, groups } = l.options as { stride: number; padding: number; groups: number };
    const model = onnxConvModel({
      inputShape: l.input,
      weightShape: l.weight,
      outputShape: outShape(l),
      weight: w,
      bias: b,
      stride: [stride, stride],
      dilation: [1, 1],
      pads: [padding, padding, padding, padding],
      groups,
    });
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
    const feeds = { X: new ort.Tensor('float32', x, l.input) };
    result[l.name] = await timeRuns(() => session.run(feeds), WARMUP, RUNS);
    await session.release();
  }
  return result;
}

async function measureTfjs(threads: number): Promise<Seconds> {
  const tf = await importPeer('@tensorflow/tfjs-core');
  const wasm = await importPeer('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(fileURLToPath(new URL('./node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url)));
  wasm.setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  const result: Seconds = {};
  for (const l of layers) {
    const { x, w, b } = randomData(l, 1);
    const [n, cin, h, wd] = l.input;
    const [cout, cinG, kh, kw] = l.weight;
    const { stride, padding, groups } = l.options as { stride: number; padding: number; groups: number };
    // tfjs convolves NHWC with [kh, kw, cin, cout] filters: give it its own layout (not timed).
    const input = tf.transpose(tf.tensor4d(x, [n, cin, h, wd]), [0, 2, 3, 1]);
    const filter = tf.transpose(tf.tensor4d(w, [cout, cinG, kh, kw]), [2, 3, 1, 0]);
    const bias = tf.tensor1d(b);
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [padding, padding], [padding, padding], [0, 0]];
    let run: () => Untyped;
    if (groups === 1) {
      run = () => tf.add(tf.conv2d(input, filter, stride, pad), bias);
    } else if (cinG === 1 && cout === groups) {
      // depthwiseConv2d filter: [kh, kw, cin, multiplier]
      const dwFilter = tf.reshape(filter, [kh, kw, cin, 1]);
      run = () => tf.add(tf.depthwiseConv2d(input, dwFilter, stride, pad), bias);
    } else {
      // No grouped convolution in tfjs: split, convolve each group, concatenate.
      const filters = tf.split(filter, groups, 3);
      run = () =>
        tf.add(tf.concat(tf.split(input, groups, 3).map((part: Untyped, g: number) => tf.conv2d(part, filters[g], stride, pad)), 3), bias);
    }
    result[l.name] = await timeRuns(() => {
      const y = tf.tidy(run);
      y.dataSync();
      y.dispose();
    }, WARMUP, RUNS);
  }
  return result;
}

const MEASURE: Record<Engine, (threads: number) => Promise<Seconds>> = {
  groupconv: measureGroupconv,
  onnxruntime: measureOnnxruntime,
  'tfjs-wasm': measureTfjs,
};

async function child(engine: Engine, threads: number): Promise<void> {
  const seconds = await MEASURE[engine](threads);
  process.stdout.write(`RESULT ${JSON.stringify(seconds)}\n`);
  process.exit(0); // tfjs's thread pool would keep the process alive
}

function runChild(engine: Engine, threads: number): Seconds {
  const script = fileURLToPath(import.meta.url);
  const run = spawnSync(process.execPath, ['--import', 'tsx', script, ...args, '--child', engine, '--threads', String(threads)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) {
    process.stderr.write(`${engine} x${threads} failed:\n${run.stderr}\n`);
    return {};
  }
  return JSON.parse(line.slice(7));
}

async function main(): Promise<void> {
  const childEngine = option('child', '');
  if (childEngine) return child(childEngine as Engine, Number(option('threads', '1')));

  const engines: Engine[] = ['groupconv', 'onnxruntime', 'tfjs-wasm'];
  const load = loadavg()[0];
  const gflops: Record<string, Record<string, number>> = {};
  const best: Record<string, Record<string, number>> = {};
  for (const threads of [1, 2]) {
    for (const engine of engines) {
      const seconds = runChild(engine, threads);
      for (const l of layers) {
        if (seconds[l.name] === undefined) continue;
        (gflops[l.name] ??= {})[`${engine}@${threads}`] = layerFlops(l) / seconds[l.name].median / 1e9;
        (best[l.name] ??= {})[`${engine}@${threads}`] = layerFlops(l) / seconds[l.name].best / 1e9;
      }
    }
  }
  console.log(`GFLOP/s, batch 8 float32, ${RUNS} runs after ${WARMUP} warm-up (groupconv: 1 thread = planned layer on the main thread, 2 threads = GroupedConvEngine, 2 workers)`);
  console.log(`load average (1 min) before / after: ${load.toFixed(2)} / ${loadavg()[0].toFixed(2)} on ${availableParallelism()} cores: other processes distort the figures`);
  printTables('median', gflops);
  printTables('best run (least disturbed)', best);
  const json = option('json', '');
  if (json) writeFileSync(json, JSON.stringify({ median: gflops, best }, null, 2));
}

function printTables(title: string, gflops: Record<string, Record<string, number>>): void {
  const fmt = (v: number | undefined) => (v === undefined ? '   -  ' : v.toFixed(1).padStart(6));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '   -  ' : `${(a / b).toFixed(2)}x`.padStart(6));
  for (const threads of [1, 2]) {
    console.log(`\n${title}, ${threads} thread${threads > 1 ? 's' : ''}`);
    console.log(`${'layer'.padEnd(18)} groupconv   ort  tfjs-wasm  gc/ort  gc/tfjs`);
    for (const l of layers) {
      const row = gflops[l.name] ?? {};
      const gc = row[`groupconv@${threads}`];
      const ort = row[`onnxruntime@${threads}`];
      const tfw = row[`tfjs-wasm@${threads}`];
      console.log(`${l.name.padEnd(18)} ${fmt(gc)}    ${fmt(ort)} ${fmt(tfw)}    ${ratio(gc, ort)}  ${ratio(gc, tfw)}`);
    }
  }
}

await main();
