// The LRN, max pooling and ReLU kernels (WebAssembly SIMD, src/kernels) against
// their JavaScript references (src/ops), in ONE process, alternating call by
// call in rotating order, on what one AlexNet device computes at batch 8 when
// 2 devices split the model (half of each layer's channels; LRN with the
// neighbouring channels it receives). Operands live in the arena, as on a
// device. Prints each op's medians and the median, min and max of the
// per-round ratios JS / wasm (their spread says how noisy the machine was).
//   flock /tmp/groupconv-bench.lock npx tsx bench/ops-ab.ts [--rounds 15] [--batch 8]
// Measured 2026-11-29 on the shared 2-core machine (load average 9-12): the
// seven together 6.0 ms vs 104.6 ms per device (17x, per-round ratios 10.7x to
// 21.3x; a second run 9.8 ms vs 204 ms, 21x, 7x to 42x).
import { parseArgs } from 'node:util';
import { Random } from '../src/index.js';
import { sharedArena } from '../src/memory/arena.js';
import { localResponseNormChannels, localResponseNormChannelsReference } from '../src/ops/normalization.js';
import { maxPool2d, maxPool2dReference } from '../src/ops/pooling.js';
import { relu, reluReference } from '../src/ops/relu.js';
import { median, maximum, minimum } from '../src/statistics.js';
import { perRoundRatios, rotated } from './support/rounds.js';
import { timeMs } from './support/timing.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, batch: { type: 'string', default: '8' } } });
const rounds = Number(values.rounds);
const N = Number(values.batch);
const random = new Random(1);

function sharedRandom(shape: number[]): { shape: number[]; data: Float32Array } {
  const data = sharedArena().allocateFloat32(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = random.normal();
  return { shape, data };
}

interface Contest {
  name: string;
  wasm: () => void;
  js: () => void;
}

const LRN = { size: 5, alpha: 1e-4, beta: 0.75, k: 2 };
const POOL = { kernelSize: 3, stride: 2 } as const;

function lrnContest(name: string, channels: number, size: number): Contest {
  // The device's channels plus the 2 neighbours it receives (a first half: after it only).
  const x = sharedRandom([N, channels + 2, size, size]);
  const out = { shape: [N, channels, size, size], data: sharedArena().allocateFloat32(N * channels * size * size) };
  return {
    name,
    wasm: () => localResponseNormChannels(x, LRN, 0, channels, out, 0),
    js: () => localResponseNormChannelsReference(x, LRN, 0, channels, out, 0),
  };
}

function poolContest(name: string, channels: number, size: number): Contest {
  const x = sharedRandom([N, channels, size, size]);
  const pooled = Math.floor((size - 3) / 2) + 1;
  const out = sharedArena().allocateFloat32(N * channels * pooled * pooled);
  return { name, wasm: () => maxPool2d(x, POOL, out), js: () => out.set(maxPool2dReference(x, POOL).data) };
}

function reluContest(name: string, channels: number, size: number): Contest {
  const x = sharedRandom([N, channels, size, size]);
  const out = sharedArena().allocateFloat32(x.data.length);
  return { name, wasm: () => relu(x, out), js: () => reluReference(x.data, out) };
}

const contests: Contest[] = [
  reluContest('relu1 [48, 55, 55]', 48, 55),
  lrnContest('lrn1 [48(+2), 55, 55]', 48, 55),
  poolContest('pool1 [48, 55, 55]', 48, 55),
  reluContest('relu2 [128, 27, 27]', 128, 27),
  lrnContest('lrn2 [128(+2), 27, 27]', 128, 27),
  poolContest('pool2 [128, 27, 27]', 128, 27),
  poolContest('pool5 [128, 13, 13]', 128, 13),
];

// Warm both sides (JIT, first instantiation).
for (const c of contests) for (let i = 0; i < 3; i++) (c.wasm(), c.js());

console.log(`batch ${N}, ${rounds} rounds, one AlexNet device's share of 2 (ms, median; ratio = JS / wasm per round)`);
let wasmTotal: number[] = new Array(rounds).fill(0);
let jsTotal: number[] = new Array(rounds).fill(0);
for (const c of contests) {
  const times = { wasm: [] as number[], js: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    for (const side of rotated(['wasm', 'js'] as const, r)) times[side].push(await timeMs(c[side]));
  }
  wasmTotal = wasmTotal.map((t, r) => t + times.wasm[r]);
  jsTotal = jsTotal.map((t, r) => t + times.js[r]);
  const ratios = perRoundRatios(times.js, times.wasm);
  console.log(
    `${c.name.padEnd(26)} wasm ${median(times.wasm).toFixed(2).padStart(7)}  js ${median(times.js).toFixed(2).padStart(7)}  ` +
      `speedup ${median(ratios).toFixed(2)}x (min ${minimum(ratios).toFixed(2)}, max ${maximum(ratios).toFixed(2)})`,
  );
}
const total = perRoundRatios(jsTotal, wasmTotal);
console.log(`${'all seven'.padEnd(26)} wasm ${median(wasmTotal).toFixed(2).padStart(7)}  js ${median(jsTotal).toFixed(2).padStart(7)}  speedup ${median(total).toFixed(2)}x (min ${minimum(total).toFixed(2)}, max ${maximum(total).toFixed(2)})`);
