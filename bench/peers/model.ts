// npm run bench:peers -- --model FILE.onnx [--batch 1,8] [--threads 1,2] [--runs 9] [--warmup 14] [--size N] [--calling-thread no|yes|both] [--json out.json]
//
// A whole ONNX model on groupconv (forwardWith on a GroupedConvEngine of N
// workers) and on onnxruntime-node (N intra-op threads, the calling thread one
// of them: its session.run computes on the thread that calls it), all in one process. For each batch, every round runs each
// contender once — groupconv and onnxruntime at each thread count — in an order
// that rotates from round to round, after a pause one untimed call then one
// timed call, so all see the same phase of this shared machine. A ratio is the
// median of the per-round ratios. Prints images/s and groupconv / onnxruntime.
// --calling-thread yes: groupconv's engines have the calling thread as one of
// every program's runners (GroupedConvEngineOptions.callingThread), as
// onnxruntime-node runs its first thread; both: each thread count with and
// without, in the same rounds.
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GroupedConvEngine, loadOnnx, Random, zeros, dispose, type Tensor } from '../../src/index.js';
import { median, quantile } from '../../src/statistics.js';
import { PAUSE_MS, perRoundRatios, rotated } from '../support/rounds.js';
import { timeMs } from '../support/timing.js';
import { errors } from '../../src/errors.js';
import { RUNS_BEFORE_CHOICE } from '../../src/engine/mode-choice.js';

// onnxruntime-node is installed only in bench/peers/node_modules, on demand: imported by name at run time.
type Untyped = any;
const importPeer = (name: string): Promise<Untyped> => import(name);

/** groupconv's engines: programs handed to the workers, or with the calling thread as one of their runners. */
type Variant = 'workers' | 'calling thread';

interface Contender {
  key: string;
  engine: 'groupconv' | 'onnxruntime';
  threads: number;
  call: () => Promise<unknown>;
}

interface Options {
  model: string;
  batches: number[];
  threads: number[];
  runs: number;
  warmup: number;
  size: number | null;
  variants: Variant[];
  json: string;
}

const list = (text: string, flag: string): number[] => {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw errors.badFlag(`--${flag}`, `expected a list of positive integers, got '${text}'`);
  return values;
};

export function parseModelOptions(option: (name: string, fallback: string) => string): Options {
  const size = option('size', '');
  return {
    model: option('model', ''),
    batches: list(option('batch', '1,8'), 'batch'),
    threads: list(option('threads', '1,2'), 'threads'),
    runs: list(option('runs', '9'), 'runs')[0],
    // groupconv on several threads warms up at least RUNS_BEFORE_CHOICE calls, whatever this says (see modelMain).
    warmup: Number(option('warmup', '14')),
    size: size ? list(size, 'size')[0] : null,
    variants: variantsOf(option('calling-thread', 'no')),
    json: option('json', ''),
  };
}

function variantsOf(text: string): Variant[] {
  if (text === 'no') return ['workers'];
  if (text === 'yes') return ['calling thread'];
  if (text === 'both') return ['workers', 'calling thread'];
  throw errors.badFlag('--calling-thread', `expected no, yes or both, got '${text}'`);
}

const keyOf = (variant: Variant, threads: number): string => `${variant === 'workers' ? 'groupconv' : 'groupconv-calling'}@${threads}`;

export async function modelMain(options: Options): Promise<void> {
  const ort = await importPeer('onnxruntime-node');
  const model = loadOnnx(options.model);
  const info = model.inputs[0];
  const name = basename(options.model).replace(/\.onnx$/i, '');
  const engines = new Map(
    options.variants.flatMap((v) => options.threads.map((t) => [keyOf(v, t), new GroupedConvEngine({ workers: t, policy: 'balanced', callingThread: v === 'calling thread' })] as const)),
  );
  for (const e of engines.values()) await e.warmup();
  const sessions = new Map<number, Untyped>();
  for (const t of options.threads) {
    sessions.set(t, await ort.InferenceSession.create(options.model, { intraOpNumThreads: t, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' }));
  }
  const load = loadavg()[0];
  const results: Record<string, unknown>[] = [];
  try {
    for (const batch of options.batches) {
      const shape = (info.shape ?? []).map((d, i) => (i === 0 ? batch : typeof d === 'number' ? d : (options.size ?? missingSize(i))));
      if (typeof info.shape?.[0] === 'number' && info.shape[0] !== batch) {
        console.log(`${name}: batch ${batch} skipped (the model's batch is fixed at ${info.shape[0]})`);
        continue;
      }
      const random = new Random(batch);
      const x: Tensor = zeros(shape, { shared: true });
      for (let i = 0; i < x.data.length; i++) x.data[i] = random.uniform(-1, 1);
      // onnxruntime reads its own copy (not timed): the same values.
      const feeds = { [info.name]: new ort.Tensor('float32', Float32Array.from(x.data), shape) };
      const contenders: Contender[] = options.threads.flatMap((t) => [
        ...options.variants.map((v) => ({ key: keyOf(v, t), engine: 'groupconv' as const, threads: t, call: () => model.forwardWith(engines.get(keyOf(v, t))!, x) })),
        { key: `onnxruntime@${t}`, engine: 'onnxruntime' as const, threads: t, call: () => sessions.get(t)!.run(feeds) },
      ]);
      // The same answer from both, or the comparison means nothing.
      const ours = await model.forwardWith(engines.get(keyOf(options.variants[0], options.threads[0]))!, x);
      const theirs = (await sessions.get(options.threads[0])!.run(feeds))[model.outputs[0].name].data as Float32Array;
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < theirs.length; i++) {
        worst = Math.max(worst, Math.abs(ours.data[i] - theirs[i]));
        scale = Math.max(scale, Math.abs(theirs[i]));
      }
      // A program without chains (batch 1) on several threads spends its first RUNS_BEFORE_CHOICE runs
      // warming the cut and measuring its two ways (src/engine/mode-choice.ts): timed before, half its runs
      // would go the slower way, so there groupconv warms up that long whatever --warmup says.
      const warmupOf = (c: Contender) => (c.engine === 'groupconv' && c.threads > 1 ? Math.max(options.warmup, RUNS_BEFORE_CHOICE) : options.warmup);
      for (const c of contenders) for (let i = 0; i < warmupOf(c); i++) await c.call();
      const seconds = new Map<string, number[]>(contenders.map((c) => [c.key, []]));
      for (let round = 0; round < options.runs; round++) {
        for (const c of rotated(contenders, round)) {
          await sleep(PAUSE_MS);
          await c.call();
          seconds.get(c.key)!.push((await timeMs(c.call)) / 1000);
        }
      }
      dispose(x);
      console.log(`\n${name}, batch ${batch}, input [${shape.join(', ')}]: ${options.runs} rounds after ${options.warmup} warm-up calls each${options.threads.some((t) => t > 1) && options.warmup < RUNS_BEFORE_CHOICE ? ` (groupconv on ${options.threads.filter((t) => t > 1).join(', ')} threads: ${RUNS_BEFORE_CHOICE}, its mode choice's first runs)` : ''}; max |groupconv - onnxruntime| = ${worst.toExponential(2)} (output range ${scale.toExponential(2)})`);
      const labelled = options.variants.length > 1 || options.variants[0] !== 'workers';
      console.log(`${'threads'.padEnd(labelled ? 24 : 8)} ${'groupconv img/s'.padStart(16)} ${'ms'.padStart(8)} ${'ort img/s'.padStart(10)} ${'ms'.padStart(8)}  ${'gc/ort [quartiles]'.padStart(22)}  gc speedup vs ${options.threads[0]}`);
      for (const t of options.threads) for (const variant of options.variants) {
        const gc = seconds.get(keyOf(variant, t))!;
        const rt = seconds.get(`onnxruntime@${t}`)!;
        // gc/ort as speeds: ort's time over groupconv's, per round.
        const ratio = perRoundRatios(rt, gc);
        const speedup = perRoundRatios(seconds.get(keyOf(variant, options.threads[0]))!, gc);
        const row = {
          model: name,
          batch,
          threads: t,
          groupconvVariant: variant,
          groupconvImagesPerSec: batch / median(gc),
          groupconvMs: median(gc) * 1000,
          onnxruntimeImagesPerSec: batch / median(rt),
          onnxruntimeMs: median(rt) * 1000,
          ratio: median(ratio),
          ratioQ1: quantile(ratio, 0.25),
          ratioQ3: quantile(ratio, 0.75),
          groupconvSpeedup: median(speedup),
          onnxruntimeSpeedup: median(perRoundRatios(seconds.get(`onnxruntime@${options.threads[0]}`)!, rt)),
        };
        results.push(row);
        console.log(
          `${(labelled ? `${t} (${variant})` : String(t)).padEnd(labelled ? 24 : 8)} ${row.groupconvImagesPerSec.toFixed(1).padStart(16)} ${row.groupconvMs.toFixed(2).padStart(8)} ${row.onnxruntimeImagesPerSec.toFixed(1).padStart(10)} ${row.onnxruntimeMs.toFixed(2).padStart(8)}  ${`${row.ratio.toFixed(2)}x [${row.ratioQ1.toFixed(2)}-${row.ratioQ3.toFixed(2)}]`.padStart(22)}  ${row.groupconvSpeedup.toFixed(2)}x (ort ${row.onnxruntimeSpeedup.toFixed(2)}x)`,
        );
      }
    }
  } finally {
    model.close();
    for (const e of engines.values()) await e.close();
    for (const s of sessions.values()) await s.release();
  }
  console.log(`\ngc/ort = median over rounds of that round's groupconv / onnxruntime speed; groupconv = forwardWith on an engine of N workers (calling thread: the calling thread is one of a program's runners)`);
  console.log(`load average (1 min) before / after: ${load.toFixed(2)} / ${loadavg()[0].toFixed(2)} on ${availableParallelism()} cores: other processes distort the figures`);
  if (options.json) writeFileSync(options.json, JSON.stringify({ date: new Date().toISOString(), results }, null, 2));
}

function missingSize(dimension: number): never {
  throw errors.badFlag('--size', `input dimension ${dimension} is symbolic: give --size`);
}
