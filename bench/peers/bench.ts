// npm run bench:peers: the issue #7 layer suite through groupconv's kernels,
// onnxruntime-node and @tensorflow/tfjs-backend-wasm at 1 and 2 threads.
// Each thread count runs in its own child process (tfjs fixes its thread count
// at backend start) holding all three engines. Per layer, every round runs each
// engine in turn (the order rotating), after a pause one untimed call then one timed call, so
// all engines see the same phase of this shared machine: a ratio is the median
// of the per-round ratios, not a quotient of medians taken minutes apart.
// Prints GFLOP/s per layer and groupconv / peer ratios.
//
//   npm run bench:peers [-- --runs 9 --layers resnext,depthwise --json out.json]
//   npm run bench:peers -- --model FILE.onnx [--batch 1,8 --threads 1,2]   (a whole model: model.ts)
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg } from 'node:os';
import { Random } from '../../src/index.js';
import { median, quantile } from '../../src/statistics.js';
import { mainThreadConv } from '../support/main-thread.js';
import { PAUSE_MS, perRoundRatios, rotated } from '../support/rounds.js';
import { timeMs } from '../support/timing.js';
import { layerFlops, outputShape, suiteLayers, type SuiteLayer } from './suite.js';

type Engine = 'groupconv' | 'onnxruntime' | 'tfjs-wasm';

// The peers are installed only in bench/peers/node_modules, on demand, so
// they are imported by name at run time (typechecking must not need them).
type Untyped = any;
const importPeer = (name: string): Promise<Untyped> => import(name);
/** One layer made ready on one engine: call() runs it once (awaitable). */
interface Runner {
  call: () => unknown;
  close: () => unknown;
}
/** An engine started at a thread count: prepare() readies a layer on it. */
interface Started {
  prepare: (l: SuiteLayer) => Promise<Runner>;
  stop: () => Promise<void>;
}
/** Seconds of each round's timed call, per layer and engine. */
type RoundSeconds = Record<string, Partial<Record<Engine, number[]>>>;

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const RUNS = Number(option('runs', '9'));
const WARMUP = Number(option('warmup', '2'));
const ALL_ENGINES: Engine[] = ['groupconv', 'onnxruntime', 'tfjs-wasm'];
/** --engines groupconv,onnxruntime: a subset (groupconv stays first: the ratios are against it). */
const ENGINES = ALL_ENGINES.filter((e) => e === 'groupconv' || option('engines', ALL_ENGINES.join(',')).split(',').includes(e));
const layers = suiteLayers(option('layers', ''));

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

/**
 * groupconv: 1 thread is the planned layer on the main thread (packed weights,
 * shared tensors, no copies); 2 threads is GroupedConvEngine with 2 workers
 * (balanced policy) running the same kernels on its prepared layer.
 */
async function startGroupconv(threads: number): Promise<Started> {
  const { zeros, GroupedConvEngine } = await import('../../src/index.js');
  const engine = threads > 1 ? new GroupedConvEngine({ workers: threads, policy: 'balanced' }) : null;
  await engine?.warmup();
  const prepare = async (l: SuiteLayer): Promise<Runner> => {
    const { x, w, b } = randomData(l, 1);
    const sx = zeros(l.input, { shared: true });
    sx.data.set(x);
    const sw = zeros(l.weight, { shared: true });
    sw.data.set(w);
    const sb = zeros([b.length], { shared: true });
    sb.data.set(b);
    const out = zeros(outputShape(l), { shared: true });
    if (engine) {
      const layer = engine.layer(sw, sb, l.options);
      return { call: () => layer.run(sx, { out }), close: () => layer.close() };
    }
    const main = mainThreadConv(sx, sw, sb, l.options, out);
    return { call: main.call, close: main.release };
  };
  return { prepare, stop: async () => engine?.close() };
}

async function startOnnxruntime(threads: number): Promise<Started> {
  const ort = await importPeer('onnxruntime-node');
  const { onnxConvModel } = await import('./onnx-conv.js');
  const prepare = async (l: SuiteLayer): Promise<Runner> => {
    const { x, w, b } = randomData(l, 1);
    const { stride, padding, groups } = l.options;
    const model = onnxConvModel({
      inputShape: l.input,
      weightShape: l.weight,
      outputShape: outputShape(l),
      weight: w,
      bias: b,
      stride: [stride, stride],
      dilation: [1, 1],
      pads: [padding, padding, padding, padding],
      groups,
    });
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
    const feeds = { X: new ort.Tensor('float32', x, l.input) };
    return { call: () => session.run(feeds), close: () => session.release() };
  };
  return { prepare, stop: async () => {} };
}

async function startTfjs(threads: number): Promise<Started> {
  const tf = await importPeer('@tensorflow/tfjs-core');
  const wasm = await importPeer('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(fileURLToPath(new URL('./node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url)));
  wasm.setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  const prepare = async (l: SuiteLayer): Promise<Runner> => {
    const { x, w, b } = randomData(l, 1);
    const [n, cin, h, wd] = l.input;
    const [cout, cinG, kh, kw] = l.weight;
    const { stride, padding, groups } = l.options;
    // tfjs convolves NHWC with [kh, kw, cin, cout] filters: give it its own layout (not timed).
    const input = tf.transpose(tf.tensor4d(x, [n, cin, h, wd]), [0, 2, 3, 1]);
    const filter = tf.transpose(tf.tensor4d(w, [cout, cinG, kh, kw]), [2, 3, 1, 0]);
    const bias = tf.tensor1d(b);
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [padding, padding], [padding, padding], [0, 0]];
    const kept: Untyped[] = [input, filter, bias];
    let run: () => Untyped;
    if (groups === 1) {
      run = () => tf.add(tf.conv2d(input, filter, stride, pad), bias);
    } else if (cinG === 1 && cout === groups) {
      // depthwiseConv2d filter: [kh, kw, cin, multiplier]
      const dwFilter = tf.reshape(filter, [kh, kw, cin, 1]);
      kept.push(dwFilter);
      run = () => tf.add(tf.depthwiseConv2d(input, dwFilter, stride, pad), bias);
    } else {
      // No grouped convolution in tfjs: split, convolve each group, concatenate.
      const filters = tf.split(filter, groups, 3);
      kept.push(...filters);
      run = () =>
        tf.add(tf.concat(tf.split(input, groups, 3).map((part: Untyped, g: number) => tf.conv2d(part, filters[g], stride, pad)), 3), bias);
    }
    const call = () => {
      const y = tf.tidy(run);
      y.dataSync();
      y.dispose();
    };
    return { call, close: () => kept.forEach((t) => t.dispose()) };
  };
  return { prepare, stop: async () => {} };
}

const START: Record<Engine, (threads: number) => Promise<Started>> = {
  groupconv: startGroupconv,
  onnxruntime: startOnnxruntime,
  'tfjs-wasm': startTfjs,
};

async function child(threads: number): Promise<void> {
  const started: Partial<Record<Engine, Started>> = {};
  for (const engine of ENGINES) {
    try {
      started[engine] = await START[engine](threads);
    } catch (error) {
      process.stderr.write(`${engine} x${threads} did not start: ${String(error)}\n`);
    }
  }
  const engines = ENGINES.filter((e) => started[e]);
  const seconds: RoundSeconds = {};
  for (const l of layers) {
    const runners = new Map<Engine, Runner>();
    for (const engine of engines) runners.set(engine, await started[engine]!.prepare(l));
    for (const engine of engines) for (let i = 0; i < WARMUP; i++) await runners.get(engine)!.call();
    const times: Partial<Record<Engine, number[]>> = {};
    for (let round = 0; round < RUNS; round++) {
      for (const engine of rotated(engines, round)) {
        const call = runners.get(engine)!.call;
        // The pause lets the previous engine's threads stop spinning (onnxruntime's
        // pool spins after a run); the untimed call takes this engine's threads
        // and caches coming back, so the timed call is a warm back-to-back call.
        await sleep(PAUSE_MS);
        await call();
        (times[engine] ??= []).push((await timeMs(call)) / 1000);
      }
    }
    seconds[l.name] = times;
    for (const runner of runners.values()) await runner.close();
  }
  for (const engine of engines) await started[engine]!.stop();
  process.stdout.write(`RESULT ${JSON.stringify(seconds)}\n`);
  process.exit(0); // tfjs's thread pool would keep the process alive
}

function runChild(threads: number): RoundSeconds {
  const script = fileURLToPath(import.meta.url);
  const run = spawnSync(process.execPath, ['--import', 'tsx', script, ...args, '--child', '1', '--threads', String(threads)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (run.stderr) process.stderr.write(run.stderr);
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) {
    process.stderr.write(`the ${threads}-thread run failed (exit ${run.status})\n`);
    return {};
  }
  return JSON.parse(line.slice(7));
}

interface Cell {
  /** GFLOP/s of the median and of the fastest timed call. */
  median: number;
  best: number;
}
/** groupconv / peer, from each round's pair of timed calls: median and quartiles. */
interface Ratio {
  median: number;
  q1: number;
  q3: number;
}

async function main(): Promise<void> {
  if (option('child', '')) return child(Number(option('threads', '1')));
  // --model FILE.onnx: a whole model against onnxruntime-node, in this process (model.ts).
  if (option('model', '')) {
    const { modelMain, parseModelOptions } = await import('./model.js');
    return modelMain(parseModelOptions(option));
  }

  const load = loadavg()[0];
  const cells: Record<string, Record<string, Cell>> = {};
  const ratios: Record<string, Record<string, Ratio>> = {};
  for (const threads of [1, 2]) {
    const seconds = runChild(threads);
    for (const l of layers) {
      const times = seconds[l.name];
      if (!times) continue;
      for (const engine of ENGINES) {
        const t = times[engine];
        if (!t) continue;
        (cells[l.name] ??= {})[`${engine}@${threads}`] = { median: layerFlops(l) / median(t) / 1e9, best: layerFlops(l) / Math.min(...t) / 1e9 };
        const gc = times.groupconv;
        if (engine === 'groupconv' || !gc) continue;
        const perRound = perRoundRatios(t, gc);
        (ratios[l.name] ??= {})[`${engine}@${threads}`] = { median: median(perRound), q1: quantile(perRound, 0.25), q3: quantile(perRound, 0.75) };
      }
    }
  }
  console.log(`GFLOP/s, batch 8 float32: ${RUNS} rounds after ${WARMUP} warm-up calls; each round runs every engine in turn (untimed call, then timed call)`);
  console.log('groupconv: 1 thread = planned layer on the main thread, 2 threads = GroupedConvEngine, 2 workers');
  console.log('gc/peer = median over rounds of that round\'s groupconv / peer speed [quartiles over rounds]');
  console.log(`load average (1 min) before / after: ${load.toFixed(2)} / ${loadavg()[0].toFixed(2)} on ${availableParallelism()} cores: other processes distort the figures`);
  printTables(cells, ratios);
  const json = option('json', '');
  if (json) writeFileSync(json, JSON.stringify({ gflops: cells, ratios }, null, 2));
}

function printTables(cells: Record<string, Record<string, Cell>>, ratios: Record<string, Record<string, Ratio>>): void {
  const fmt = (v: Cell | undefined) => (v === undefined ? '     -' : v.median.toFixed(1).padStart(6));
  const rat = (r: Ratio | undefined) =>
    r === undefined ? '-'.padStart(19) : `${r.median.toFixed(2)}x [${r.q1.toFixed(2)}-${r.q3.toFixed(2)}]`.padStart(19);
  for (const threads of [1, 2]) {
    console.log(`\n${threads} thread${threads > 1 ? 's' : ''}: median GFLOP/s, ratios`);
    console.log(`${'layer'.padEnd(18)} groupconv    ort tfjs-wasm              gc/ort             gc/tfjs`);
    for (const l of layers) {
      const row = cells[l.name] ?? {};
      const r = ratios[l.name] ?? {};
      console.log(
        `${l.name.padEnd(18)} ${fmt(row[`groupconv@${threads}`])}    ${fmt(row[`onnxruntime@${threads}`])}    ${fmt(row[`tfjs-wasm@${threads}`])} ${rat(r[`onnxruntime@${threads}`])} ${rat(r[`tfjs-wasm@${threads}`])}`,
      );
    }
  }
}

await main();
