// Kernels that move data without arithmetic: Concat, Split / Slice along one
// axis, Transpose (ShuffleNetV2's channel shuffle among them) and constant
// Pad. Copies give the same bits however they are cut, so these are free to
// choose units that balance: pieces of images, or rows of the output.
import { arenaCopier, padRowsWasm, transposeRowsWasm, type RunCopier } from './simd-loops.js';
import type { RangedKernel, RangedOp } from './types.js';

/**
 * Units [start, end) of an axis cut into pieces of `counts` (for each outer
 * index, piece 0's indexes, then piece 1's, ...) as runs within one piece:
 * `visit(outer, piece, index, run, unit)` for each, index the run's first
 * within its piece and unit the run's first unit. What concat, slice and
 * shuffleConcat walk.
 */
function forEachRun(start: number, end: number, counts: readonly number[], visit: (outer: number, piece: number, index: number, run: number, unit: number) => void): void {
  let total = 0;
  for (const n of counts) total += n;
  let u = start;
  while (u < end) {
    const outer = Math.floor(u / total);
    let index = u - outer * total;
    let piece = 0;
    while (index >= counts[piece]) index -= counts[piece++];
    const run = Math.min(end - u, counts[piece] - index);
    visit(outer, piece, index, run, u);
    u += run;
  }
}

/** Copies of runs from x into out: memmove or WebAssembly's in the arena (arenaCopier), set() elsewhere. */
function runCopier(x: Float32Array, out: Float32Array): RunCopier {
  return (
    arenaCopier(x, out) ??
    ((from, to, count, length, fromStride, toStride) => {
      for (let r = 0; r < count; r++) out.set(x.subarray(from + r * fromStride, from + r * fromStride + length), to + r * toStride);
    })
  );
}

/**
 * Inputs concatenated along one axis. Seen as [outer, axis, inner]: params
 * sizes (each input's length along the axis), inner. A unit is one index of
 * the output's axis for one outer index (a channel plane of one image, for
 * the channel axis), so even one image splits: outer x axis units. A range
 * copies runs of consecutive units from one input with one copy each (memmove
 * or WebAssembly's in the arena, set() elsewhere: runCopier).
 */
const concat: RangedKernel = (p, inputs, [out], start, end) => {
  const copiers = inputs.map((x) => runCopier(x, out));
  concatCopies(p, start, end, (k) => copiers[k]);
};

/** The copier from the op's input `input` to its output `output`: the kernel's own, or one that records (layoutCopies). */
type CopierOf = (input: number, output: number) => RunCopier;

/** The copies of concat's units [start, end), each made through `copier`. */
function concatCopies(p: RangedOp['params'], start: number, end: number, copier: CopierOf): void {
  const sizes = p.sizes as number[];
  const inner = p.inner as number;
  forEachRun(start, end, sizes, (o, k, j, run, u) => copier(k, 0)((o * sizes[k] + j) * inner, u * inner, 1, run * inner, 0, 0));
}

/**
 * Pieces of one axis into outputs (Split, and a Slice with step 1 along one
 * axis): the input seen as [outer, dim, inner]; params dim, inner, begins and
 * counts (each output's run of the axis). A unit is one index of an output's
 * axis for one outer index, the outputs' axes taken one after another:
 * outer x sum(counts) units.
 */
const slice: RangedKernel = (p, [x], outputs, start, end) => {
  const copiers = outputs.map((out) => runCopier(x, out));
  sliceCopies(p, start, end, (_, k) => copiers[k]);
};

/** The copies of slice's units [start, end), each made through `copier`. */
function sliceCopies(p: RangedOp['params'], start: number, end: number, copier: CopierOf): void {
  const dim = p.dim as number;
  const inner = p.inner as number;
  const begins = p.begins as number[];
  const counts = p.counts as number[];
  forEachRun(start, end, counts, (o, k, j, run) => copier(0, k)((o * dim + begins[k] + j) * inner, (o * counts[k] + j) * inner, 1, run * inner, 0, 0));
}

/**
 * ShuffleNet's channel shuffle with the Concat before it and the Slices after
 * it, in one pass (onnx/fuse-layout.ts): `groups` inputs [N, channels, inner]
 * make a shuffled [N, channels x groups, inner] whose channel i x groups + k
 * is input k's channel i (the Concat on channels, the Reshape to [N, groups,
 * channels, H, W], the Transpose [0, 2, 1, 3, 4] and the Reshape back), and
 * output j is its channels [begins[j], begins[j] + counts[j]) (one output of
 * them all without Slices). params groups, channels, inner, begins, counts. A
 * unit is one channel plane of one output for one image: N x sum(counts)
 * units, image first, as sliceOp's. A range copies, per image, output and
 * input, the planes it takes from that input: every groups-th plane of the
 * output, consecutive planes of the input, one strided copy.
 */
const shuffleConcat: RangedKernel = (p, inputs, outputs, start, end) => {
  const copiers = outputs.map((out) => inputs.map((x) => runCopier(x, out)));
  shuffleConcatCopies(p, start, end, (k, j) => copiers[j][k]);
};

/** The copies of shuffleConcat's units [start, end), each made through `copier`. */
function shuffleConcatCopies(p: RangedOp['params'], start: number, end: number, copier: CopierOf): void {
  const groups = p.groups as number;
  const channels = p.channels as number;
  const inner = p.inner as number;
  const begins = p.begins as number[];
  const counts = p.counts as number[];
  forEachRun(start, end, counts, (n, j, c, run) => {
    // Shuffled channels [p0, p1) into output j's channels [c, c + run) of image n.
    const p0 = begins[j] + c;
    const p1 = p0 + run;
    for (let k = 0; k < groups; k++) {
      const first = p0 + ((k - (p0 % groups) + groups) % groups);
      if (first >= p1) continue;
      const count = Math.floor((p1 - 1 - first) / groups) + 1;
      copier(k, j)((n * channels + (first - k) / groups) * inner, (n * counts[j] + first - begins[j]) * inner, count, inner, inner, groups * inner);
    }
  });
}

/** The ops whose every write is a copy of runs, and the walk of their copies. */
const COPY_WALKS: Partial<Record<string, (p: RangedOp['params'], start: number, end: number, copier: CopierOf) => void>> = {
  concat: concatCopies,
  slice: sliceCopies,
  shuffleConcat: shuffleConcatCopies,
};

/** Whether layoutCopies has `op`'s copies: a Concat, a Split / Slice or a fused channel shuffle. */
export const isCopyOp = (op: RangedOp): boolean => COPY_WALKS[op.kernel] !== undefined;

/** One copy of a layout op's range: input and output (their indexes in the op's), then a RunCopier's arguments. */
export type LayoutCopy = [input: number, output: number, from: number, to: number, count: number, length: number, fromStride: number, toStride: number];

/**
 * The copies units [start, end) of a Concat, Split / Slice or fused channel shuffle make, in the order its
 * kernel makes them: what the native calls run in its place (src/engine/native-stages.ts); null for the
 * layout ops that are not copies of runs (Transpose, Pad) and every other op.
 */
export function layoutCopies(op: RangedOp, start: number, end: number): LayoutCopy[] | null {
  const walk = COPY_WALKS[op.kernel];
  if (walk === undefined) return null;
  const copies: LayoutCopy[] = [];
  walk(op.params, start, end, (input, output) => (from, to, count, length, fromStride, toStride) => copies.push([input, output, from, to, count, length, fromStride, toStride]));
  return copies;
}

/**
 * out = x transposed; params shape (the output's) and strides (the input's
 * stride of each output dimension), with trailing dimensions that stay in
 * order merged into one (worker-stages.ts), so a row of the output is often a
 * contiguous run of the input. A unit is one row (the last dimension).
 */
const transpose: RangedKernel = (p, [x], [out], start, end) => {
  const shape = p.shape as number[];
  const strides = p.strides as number[];
  const last = shape.length - 1;
  const inner = shape[last];
  const step = strides[last];
  if (step === 1 && transposeRowsWasm(x, out, start, end, shape, strides)) return;
  const counter = new Array<number>(last).fill(0);
  let off = 0;
  let rest = start;
  for (let d = last - 1; d >= 0; d--) {
    counter[d] = rest % shape[d];
    rest = Math.floor(rest / shape[d]);
    off += counter[d] * strides[d];
  }
  for (let r = start; r < end; r++) {
    const to = r * inner;
    if (step === 1) out.set(x.subarray(off, off + inner), to);
    else for (let j = 0; j < inner; j++) out[to + j] = x[off + j * step];
    for (let d = last - 1; d >= 0; d--) {
      counter[d]++;
      off += strides[d];
      if (counter[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      counter[d] = 0;
    }
  }
};

/**
 * Constant padding (or cropping, with negative pads): out[i...] = x[i... -
 * begin...] inside x, else fill. params inShape, outShape, begin, fill. A
 * unit is one row of the output (its last dimension).
 */
const pad: RangedKernel = (p, [x], [out], start, end) => {
  const inShape = p.inShape as number[];
  const outShape = p.outShape as number[];
  const begin = p.begin as number[];
  const fill = p.fill as number;
  const last = outShape.length - 1;
  const rowLength = outShape[last];
  const inStrides = new Array<number>(inShape.length);
  for (let d = last, s = 1; d >= 0; d--) {
    inStrides[d] = s;
    s *= inShape[d];
  }
  // Columns of a row that come from x: out column c <- x column c - begin[last].
  const c0 = Math.max(0, begin[last]);
  const c1 = Math.min(rowLength, inShape[last] + begin[last]);
  if (padRowsWasm(x, out, start, end, inShape, outShape, begin, fill, c0, c1)) return;
  const counter = new Array<number>(last).fill(0);
  let rest = start;
  for (let d = last - 1; d >= 0; d--) {
    counter[d] = rest % outShape[d];
    rest = Math.floor(rest / outShape[d]);
  }
  for (let r = start; r < end; r++) {
    const rowAt = r * rowLength;
    let inside = c1 > c0;
    let off = 0;
    for (let d = 0; d < last && inside; d++) {
      const i = counter[d] - begin[d];
      if (i < 0 || i >= inShape[d]) inside = false;
      off += i * inStrides[d];
    }
    if (inside) {
      out.fill(fill, rowAt, rowAt + c0);
      const from = off + c0 - begin[last];
      out.set(x.subarray(from, from + (c1 - c0)), rowAt + c0);
      out.fill(fill, rowAt + c1, rowAt + rowLength);
    } else {
      out.fill(fill, rowAt, rowAt + rowLength);
    }
    for (let d = last - 1; d >= 0; d--) {
      if (++counter[d] < outShape[d]) break;
      counter[d] = 0;
    }
  }
};

export const layoutKernels: Record<string, RangedKernel> = { concat, slice, shuffleConcat, transpose, pad };

const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/** Inputs of `shapes` (equal but along `axis`, already normalised) concatenated along `axis`. */
export function concatOp(shapes: readonly (readonly number[])[], axis: number): RangedOp {
  const outer = product(shapes[0].slice(0, axis));
  const inner = product(shapes[0].slice(axis + 1));
  const sizes = shapes.map((s) => s[axis]);
  const total = sizes.reduce((a, c) => a + c, 0);
  return { kernel: 'concat', params: { sizes, inner }, units: inner === 0 ? 0 : outer * total, costPerUnit: inner };
}

/** Runs [begins[k], begins[k] + counts[k]) of `axis` of x `shape` into output k. */
export function sliceOp(shape: readonly number[], axis: number, begins: number[], counts: number[]): RangedOp {
  const inner = product(shape.slice(axis + 1));
  const outer = product(shape.slice(0, axis));
  const total = counts.reduce((a, c) => a + c, 0);
  return { kernel: 'slice', params: { dim: shape[axis], inner, begins, counts }, units: inner === 0 ? 0 : outer * total, costPerUnit: inner };
}

/**
 * `groups` inputs of [images, channels, inner] shuffled (channel i x groups + k of the result is input k's channel i)
 * and cut into outputs: output j the shuffled channels [begins[j], begins[j] + counts[j]).
 */
export function shuffleConcatOp(images: number, groups: number, channels: number, inner: number, begins: number[], counts: number[]): RangedOp {
  const total = counts.reduce((a, c) => a + c, 0);
  return { kernel: 'shuffleConcat', params: { groups, channels, inner, begins, counts }, units: inner === 0 ? 0 : images * total, costPerUnit: inner };
}

/** x of `shape` transposed by `perm`. */
export function transposeOp(shape: readonly number[], perm: readonly number[]): RangedOp {
  const inStrides = new Array<number>(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    inStrides[d] = s;
    s *= shape[d];
  }
  let outShape = perm.map((p) => shape[p]);
  let strides = perm.map((p) => inStrides[p]);
  // Trailing dimensions that stay in order are one contiguous run of the input: merge them.
  let k = perm.length;
  while (k > 0 && perm[k - 1] === k - 1) k--;
  if (k < perm.length - 1) {
    const merged = product(outShape.slice(k));
    outShape = [...outShape.slice(0, k), merged];
    strides = [...strides.slice(0, k), 1];
  }
  if (outShape.length === 0) {
    outShape = [1];
    strides = [1];
  }
  const inner = outShape[outShape.length - 1];
  return { kernel: 'transpose', params: { shape: outShape, strides }, units: inner === 0 ? 0 : product(outShape) / inner, costPerUnit: inner };
}

/** x of `inShape` padded to `outShape`, x starting at `begin`, `fill` elsewhere. */
export function padOp(inShape: readonly number[], outShape: readonly number[], begin: readonly number[], fill: number): RangedOp {
  const rowLength = outShape[outShape.length - 1];
  const elements = product(outShape);
  // A zero-filled array is +0 whatever the fill's sign (how the host pads with 0 or -0).
  const params = { inShape: [...inShape], outShape: [...outShape], begin: [...begin], fill: fill === 0 ? 0 : fill };
  return { kernel: 'pad', params, units: rowLength === 0 ? 0 : elements / rowLength, costPerUnit: rowLength };
}
