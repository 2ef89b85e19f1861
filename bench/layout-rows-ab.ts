// A/B of the ranged layout kernels' row loops on the calling thread: the
// JavaScript loop (kernelOptions.forceJs) against the WebAssembly twin
// (simd-loops.ts), same arena arrays, whole range per call: Transpose on
// ShuffleNetV2's channel shuffles, Pad by one around [N, C, H, W] planes;
// Concat and Slice, which have no twin, against a few set() calls of the same
// bytes, which is what their copies cost without per-call overhead. The
// variants alternate round by round; each sample is process CPU time per call
// (one thread here, so CPU time is this thread's), and outputs are compared
// bit for bit.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/layout-rows-ab.ts --rounds 9 [--only Transpose]
import { parseArgs } from 'node:util';
import { Random, zeros } from '../src/index.js';
import { concatOp, padOp, sliceOp, transposeOp } from '../src/kernels/ranged/layout.js';
import { runAllUnits, type RangedOp } from '../src/kernels/ranged/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { median } from '../src/statistics.js';
import { perRoundRatios, rotated } from './support/rounds.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, only: { type: 'string', default: '' } } });
const rounds = Number(values.rounds);

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
function shared(n: number, random: Random): Float32Array {
  const a = zeros([n], { shared: true }).data;
  for (let i = 0; i < a.length; i++) a[i] = random.normal();
  return a;
}

/** CPU ms per call of `call`, repeated until a sample holds at least 20 ms. */
function cpuMsPerCall(call: () => void): number {
  let reps = 1;
  for (;;) {
    const start = process.cpuUsage();
    for (let r = 0; r < reps; r++) call();
    const used = process.cpuUsage(start);
    const ms = (used.user + used.system) / 1000;
    if (ms >= 20) return ms / reps;
    reps *= ms < 2 ? 10 : 2;
  }
}

interface Case {
  name: string;
  op: RangedOp;
  inputs: number[];
  outputs: number[];
  /** The B side: 'wasm' runs the kernel with wasm allowed, 'set' copies the same bytes with one set(). */
  b: 'wasm' | 'set';
}

const shuffle = (n: number, c: number, hw: number): Case => ({
  name: `Transpose shuffle [${n},2,${c / 2},${hw}] (rows of ${hw})`,
  op: transposeOp([n, 2, c / 2, hw], [0, 2, 1, 3]),
  inputs: [n * c * hw],
  outputs: [n * c * hw],
  b: 'wasm',
});
const cases: Case[] = [];
for (const n of [8, 1]) {
  cases.push(shuffle(n, 116, 784), shuffle(n, 232, 196), shuffle(n, 464, 49));
  cases.push({ name: `Transpose channels-last [${n},116,28,28] (strided, JS either way)`, op: transposeOp([n, 116, 28, 28], [0, 2, 3, 1]), inputs: [n * 116 * 784], outputs: [n * 116 * 784], b: 'wasm' });
}
for (const n of [8, 1]) {
  for (const [c, hw] of [[116, 784], [464, 49]]) {
    const half = c / 2;
    cases.push({ name: `Concat 2x[${n},${half},${hw}] on channels`, op: concatOp([[n, half, hw], [n, half, hw]], 1), inputs: [n * half * hw, n * half * hw], outputs: [n * c * hw], b: 'set' });
    cases.push({ name: `Slice halves of [${n},${c},${hw}]`, op: sliceOp([n, c, hw], 1, [0, half], [half, half]), inputs: [n * c * hw], outputs: [n * half * hw, n * half * hw], b: 'set' });
  }
  for (const [c, h] of [[24, 56], [232, 14], [464, 7]]) {
    const inShape = [n, c, h, h];
    const outShape = [n, c, h + 2, h + 2];
    cases.push({ name: `Pad [${n},${c},${h},${h}] by 1 (rows of ${h + 2})`, op: padOp(inShape, outShape, [0, 0, 1, 1], 0), inputs: [size(inShape)], outputs: [size(outShape)], b: 'wasm' });
  }
}

const random = new Random(7);
console.log(`CPU ms per call, median of ${rounds} rounds (alternated); ratio: median of per-round A / B`);
for (const c of cases.filter((k) => k.name.startsWith(values.only))) {
  const inputs = c.inputs.map((n) => shared(n, random));
  const outA = c.outputs.map((n) => zeros([n], { shared: true }).data);
  const outB = c.outputs.map((n) => zeros([n], { shared: true }).data);
  const runJs = () => {
    const previous = configureKernels({ forceJs: true });
    try {
      runAllUnits(c.op, inputs, outA);
    } finally {
      configureKernels(previous);
    }
  };
  // Each output filled from the inputs in turn, whole arrays at a time: as many bytes as the kernel writes, in few set() calls.
  const runB =
    c.b === 'wasm'
      ? () => runAllUnits(c.op, inputs, outB)
      : () => {
          let k = 0;
          for (const o of outB) {
            for (let at = 0; at < o.length; k = (k + 1) % inputs.length) {
              const n = Math.min(o.length - at, inputs[k].length);
              o.set(inputs[k].subarray(0, n), at);
              at += n;
            }
          }
        };
  const times: Record<'a' | 'b', number[]> = { a: [], b: [] };
  const sides = [['a', runJs], ['b', runB]] as const;
  for (let round = 0; round < rounds; round++) for (const [side, run] of rotated(sides, round)) times[side].push(cpuMsPerCall(run));
  if (c.b === 'wasm') {
    for (let k = 0; k < outA.length; k++) {
      const a = new Uint32Array(outA[k].buffer, outA[k].byteOffset, outA[k].length);
      const b = new Uint32Array(outB[k].buffer, outB[k].byteOffset, outB[k].length);
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`${c.name}: output ${k} differs at ${i}`);
    }
  }
  const ratios = perRoundRatios(times.a, times.b);
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} us`;
  console.log(
    `${c.name}: ${c.op.units} units; JS ${us(median(times.a))}, ${c.b === 'wasm' ? 'wasm' : 'one set()'} ${us(median(times.b))}; JS / ${c.b}: median ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
  );
}
