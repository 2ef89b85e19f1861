// The epilogue's float32 exp (src/kernels/exp.ts) against Math.exp over EVERY
// float32 whose exp is neither 0 nor past overflow (x from -104 to 88.72, about
// 2.2 billion values; test/exp.test.ts samples every 2^12-th): the largest
// error in ulps of the exact result, where it is, and the share correctly
// rounded. The WebAssembly and native kernels compute the same bits
// (test/exp.test.ts, test/kernels-native.test.ts), so this holds for them too.
// --fused: the multiply-adds fused, as the relaxed-SIMD build and the native
// kernels round them (exp.ts); else as the plain build does.
//
//   npx tsx scripts/exp-accuracy.ts [--from=X] [--to=X] [--fused]     (about 6 minutes for the whole range; 20 fused)
import { parseArgs } from 'node:util';
import { expFloat32 } from '../src/kernels/exp.js';

const { values } = parseArgs({ options: { from: { type: 'string', default: '-104' }, to: { type: 'string', default: '88.72283172607422' }, fused: { type: 'boolean', default: false } } });
const fused = values.fused!;
const from = Math.fround(Number(values.from));
const to = Math.fround(Number(values.to));
if (!(from <= to)) throw new Error(`--from ${values.from} must be at most --to ${values.to}`);

const f32 = new Float32Array(1);
const bits = new Uint32Array(f32.buffer);

function ulpAt(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

let worst = 0;
let worstAt = NaN;
let correctlyRounded = 0;
let count = 0;
function walk(first: number, last: number): void {
  for (let b = first; b <= last; b++) {
    bits[0] = b;
    const x = f32[0];
    if (x < from || x > to) continue;
    const exact = Math.exp(x);
    const got = expFloat32(x, fused);
    count++;
    if (got === Math.fround(exact)) correctlyRounded++;
    const error = Math.abs(got - exact) / ulpAt(exact);
    if (error > worst) [worst, worstAt] = [error, x];
  }
}
// Bit patterns grow with the magnitude: negative floats from -0 down to `from`, then positive ones up to `to`.
if (from < 0) {
  f32[0] = from;
  walk(0x80000000, bits[0]);
}
if (to >= 0) {
  f32[0] = Math.max(from, 0);
  const first = bits[0];
  f32[0] = to;
  walk(first, bits[0]);
}
console.log(`${fused ? 'fused' : 'unfused'} multiply-adds: ${count} values in [${from}, ${to}]: worst ${worst.toFixed(4)} ulp at x = ${worstAt}, ${((100 * correctlyRounded) / count).toFixed(3)}% correctly rounded`);
