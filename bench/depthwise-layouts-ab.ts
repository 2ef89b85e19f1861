// The native depthwise kernel's two layouts on one thread (native/kernels.h): plane by plane
// (`depthwise`, a plane's row in each vector) against LANES channels at a time (`depthwiseAcrossChannels`,
// a position's channels in each vector), on the same image, call by call alternating, with a check that
// the two gave the same bits. Prints each one's median and the ratio; plan/run.ts picks the second
// layout for the planes where it wins. --copied adds the plane-by-plane kernel through its padded copy
// (useDepthwiseInPlace(false)) as a third way, alternated with the others: whether reading a 3x3 in place
// (native/addon.c, depthwiseInPlace: the default) pays on this CPU.
//
// A shape is `dwCkKsS@SIDE` (C channels, KxK, stride S, padding K / 2, SIDE the input's).
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/depthwise-layouts-ab.ts [--rounds 31] [--activation silu] [--width 8] [--copied] [--shapes dw480k3s1@14,...]
import { parseArgs } from 'node:util';
import { nativeKernelsBuilt } from '../src/kernels/native/index.js';
import { Random } from '../src/index.js';
import { median } from '../src/statistics.js';

/** efficientnet_b0's and mobilenet_v2's depthwise layers, largest plane first. */
const SHAPES = 'dw32k3s1@112,dw96k3s2@112,dw144k3s1@56,dw144k5s2@56,dw192k3s1@28,dw240k5s1@28,dw240k3s2@28,dw384k3s1@14,dw480k3s1@14,dw576k3s2@14,dw672k5s1@14,dw672k5s2@14,dw960k3s1@7,dw1152k5s1@7,dw1152k3s1@7';
/** The epilogue codes of native/addon.c. */
const ACTIVATIONS: Record<string, number> = { none: 0, relu: 1, silu: 5 };

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '31' }, shapes: { type: 'string', default: SHAPES }, activation: { type: 'string', default: 'silu' }, width: { type: 'string' }, copied: { type: 'boolean', default: false } },
});
const native = nativeKernelsBuilt();
if (!native) {
  console.log('the native kernels are not built here, or this CPU has neither AVX-512 nor AVX2: `npm run build:native`');
  process.exit(1);
}
if (values.width) native.useWidth(Number(values.width));
const kind = ACTIVATIONS[values.activation!];
const rounds = Number(values.rounds);
console.log(`one image, one thread, ${values.activation}, median of ${rounds} alternating calls each, ${native.width()}-float vectors, planes ${native.depthwiseInPlace() ? 'read in place' : 'through a padded copy'}`);
console.log(`${'layer'.padEnd(14)} ${'planes ms'.padStart(10)} ${'channels ms'.padStart(12)}  planes/channels${values.copied ? `  ${'copied ms'.padStart(9)}  planes/copied` : ''}  bits`);
for (const spec of values.shapes!.split(',')) {
  const m = /^dw(\d+)k(\d+)s(\d+)@(\d+)$/.exec(spec);
  if (!m) throw new Error(`--shapes: ${spec} is not dwCkKsS@SIDE`);
  const [c, k, stride, side] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  const pad = k >> 1;
  const outSide = Math.floor((side + 2 * pad - k) / stride) + 1;
  const random = new Random(1);
  // One plain Float32Array holds everything: the kernels take byte offsets into it.
  const sizes = { x: c * side * side, w: c * k * k, b: c, out: c * outSide * outSide };
  const memory = new Float32Array(sizes.x + sizes.w + sizes.b + 3 * sizes.out);
  const first = sizes.x + sizes.w + sizes.b;
  const at = { x: 0, w: sizes.x, b: sizes.x + sizes.w, planes: first, channels: first + sizes.out, copied: first + 2 * sizes.out };
  for (let i = 0; i < first; i++) memory[i] = random.uniform(-1, 1);
  type Way = 'planes' | 'channels' | 'copied';
  const call = (which: Way): number => {
    const f = which === 'channels' ? native.depthwiseAcrossChannels : native.depthwise;
    // 'copied': the plane-by-plane kernel through its padded copy, where this CPU would read in place.
    const previous = which === 'copied' ? native.useDepthwiseInPlace(false) : null;
    const t0 = performance.now();
    f(memory, at.x * 4, at.w * 4, at.b * 4, at[which] * 4, side, side, k, stride, pad, pad, outSide, outSide, 0, c, kind, 0, 0, -1);
    const ms = performance.now() - t0;
    if (previous !== null) native.useDepthwiseInPlace(previous);
    return ms;
  };
  const ways: Way[] = values.copied ? ['planes', 'channels', 'copied'] : ['planes', 'channels'];
  const times: Record<Way, number[]> = { planes: [], channels: [], copied: [] };
  for (let r = 0; r < rounds + 3; r++) {
    for (const which of r % 2 ? [...ways].reverse() : ways) {
      const ms = call(which);
      if (r >= 3) times[which].push(ms);
    }
  }
  const bytes = (which: Way) => Buffer.from(memory.buffer, (at[which]) * 4, sizes.out * 4);
  const same = ways.every((w) => Buffer.compare(bytes('planes'), bytes(w)) === 0);
  const [p, q] = [median(times.planes), median(times.channels)];
  const copied = values.copied ? ` ${median(times.copied).toFixed(3).padStart(10)}  ${(p / median(times.copied)).toFixed(2).padStart(13)}x` : '';
  console.log(`${spec.padEnd(14)} ${p.toFixed(3).padStart(10)} ${q.toFixed(3).padStart(12)}  ${(p / q).toFixed(2).padStart(14)}x${copied}  ${same ? 'same' : 'DIFFER'}`);
}
