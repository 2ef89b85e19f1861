// Ops that move data without arithmetic: reshapes, transposes, concatenation,
// splitting, slicing, padding, gathering, and the constants and Shape that
// exporters wrap around Reshape. They work on any dtype (the shape chains run
// on int64), and once shapes are known most of them fold to constants (plan.ts).
import { fail, type Attributes } from './attrs.js';
import type { Kernel } from '../graph.js';
import {
  axisOf,
  emptyValue,
  expectInts,
  floatValue,
  intValue,
  reshaped,
  sizeOf,
  stridesOf,
  type Value,
} from '../value.js';
import type { OpFactory } from './attrs.js';

type Data = Float32Array | Float64Array | Uint8Array;

const input = (v: Value | undefined, what = 'data'): Value => v ?? fail(`${what} is missing`);

/** Axes from an attribute (older opsets) or from an input (newer ones): which, depends on the opset. */
function axesFrom(a: Attributes, opset: number, inputFrom: number, name = 'axes'): (v: Value | undefined) => number[] | undefined {
  if (opset < inputFrom) {
    const attr = a.ints(name);
    return () => attr;
  }
  return (v) => (v ? expectInts(v, name) : undefined);
}

function reshapeTo(x: Value, spec: number[], allowZero: boolean): number[] {
  const shape = spec.map((d, i) => (d === 0 && !allowZero ? (i < x.shape.length ? x.shape[i] : fail(`shape ${spec}: 0 at ${i} copies no input dimension`)) : d));
  const unknown = shape.indexOf(-1);
  if (unknown !== shape.lastIndexOf(-1)) fail(`shape [${spec}] has more than one -1`);
  if (shape.some((d) => !Number.isInteger(d) || d < -1)) fail(`shape [${spec}] has an invalid dimension`);
  const total = sizeOf(x.shape);
  if (unknown >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== unknown));
    if (known === 0 || total % known !== 0) fail(`cannot reshape [${x.shape}] to [${spec}]`);
    shape[unknown] = total / known;
  }
  if (sizeOf(shape) !== total) fail(`cannot reshape [${x.shape}] (${total} values) to [${spec}]`);
  return shape;
}

export function transpose(x: Value, perm: number[]): Value {
  const rank = x.shape.length;
  const outShape = perm.map((p) => x.shape[p]);
  const out = emptyValue(x.dtype, outShape);
  const src = x.data as Data;
  const dst = out.data as Data;
  const inStrides = stridesOf(x.shape);
  const strides = perm.map((p) => inStrides[p]);
  const n = dst.length;
  if (n === 0) return out;
  const counter = new Array<number>(rank).fill(0);
  let off = 0;
  const last = rank - 1;
  if (rank === 0) {
    dst[0] = src[0];
    return out;
  }
  const inner = outShape[last];
  const step = strides[last];
  for (let i = 0; i < n; i += inner) {
    for (let j = 0; j < inner; j++) dst[i + j] = src[off + j * step];
    for (let d = last - 1; d >= 0; d--) {
      counter[d]++;
      off += strides[d];
      if (counter[d] < outShape[d]) break;
      off -= strides[d] * outShape[d];
      counter[d] = 0;
    }
  }
  return out;
}

/** Copies `x` into a new tensor of `outShape`, element (i...) from x's (i... - begin...), `fill` where that is outside x. */
export function padValue(x: Value, begin: number[], outShape: number[], fill: number): Value {
  const out = emptyValue(x.dtype, outShape);
  const dst = out.data as Data;
  if (fill !== 0) dst.fill(fill);
  const src = x.data as Data;
  const rank = outShape.length;
  if (dst.length === 0 || src.length === 0) return out;
  if (rank === 0) {
    dst[0] = src[0];
    return out;
  }
  const inStrides = stridesOf(x.shape);
  const last = rank - 1;
  const rowLength = outShape[last];
  const rows = dst.length / rowLength;
  const counter = new Array<number>(rank).fill(0);
  // Columns of a row that come from x: out column c <- x column c - begin[last].
  const c0 = Math.max(0, begin[last]);
  const c1 = Math.min(rowLength, x.shape[last] + begin[last]);
  for (let r = 0; r < rows; r++) {
    let inside = c1 > c0;
    let off = 0;
    for (let d = 0; d < last && inside; d++) {
      const i = counter[d] - begin[d];
      if (i < 0 || i >= x.shape[d]) inside = false;
      off += i * inStrides[d];
    }
    if (inside) {
      const from = off + c0 - begin[last];
      dst.set(src.subarray(from, from + (c1 - c0)) as never, r * rowLength + c0);
    }
    for (let d = last - 1; d >= 0; d--) {
      if (++counter[d] < outShape[d]) break;
      counter[d] = 0;
    }
  }
  return out;
}

export function concat(values: Value[], axis: number): Value {
  const first = values[0];
  const rank = first.shape.length;
  const ax = axisOf(axis, rank);
  for (const v of values) {
    if (v.dtype !== first.dtype) fail(`inputs have different types (${first.dtype}, ${v.dtype})`);
    if (v.shape.length !== rank || v.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      fail(`cannot concatenate [${first.shape}] and [${v.shape}] along axis ${ax}`);
    }
  }
  const outShape = [...first.shape];
  outShape[ax] = values.reduce((s, v) => s + v.shape[ax], 0);
  const out = emptyValue(first.dtype, outShape);
  const dst = out.data as Data;
  const outer = sizeOf(first.shape.slice(0, ax));
  const inner = sizeOf(first.shape.slice(ax + 1));
  const rowOut = outShape[ax] * inner;
  let at = 0;
  for (const v of values) {
    const chunk = v.shape[ax] * inner;
    const src = v.data as Data;
    for (let o = 0; o < outer; o++) dst.set(src.subarray(o * chunk, (o + 1) * chunk) as never, o * rowOut + at);
    at += chunk;
  }
  return out;
}

/** Slice's start/end for one axis, clamped as ONNX says (steps may be negative). */
function sliceRange(dim: number, start: number, end: number, step: number): [number, number, number] {
  if (step === 0) fail('slice step must not be 0');
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), dim);
    end = Math.min(Math.max(end, 0), dim);
  } else {
    start = Math.min(Math.max(start, 0), dim - 1);
    end = Math.min(Math.max(end, -1), dim - 1);
  }
  const count = Math.max(0, Math.ceil((end - start) / step));
  return [start, step, count];
}

export function slice(x: Value, starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined): Value {
  const rank = x.shape.length;
  if (ends.length !== starts.length) fail(`starts (${starts.length}) and ends (${ends.length}) differ in length`);
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => axisOf(a, rank));
  const begin = x.shape.map(() => 0);
  const step = x.shape.map(() => 1);
  const outShape = [...x.shape];
  ax.forEach((a, i) => {
    const [s, st, count] = sliceRange(x.shape[a], starts[i], ends[i], steps ? steps[i] : 1);
    begin[a] = s;
    step[a] = st;
    outShape[a] = count;
  });
  const out = emptyValue(x.dtype, outShape);
  const dst = out.data as Data;
  const src = x.data as Data;
  const strides = stridesOf(x.shape);
  const n = dst.length;
  if (n === 0) return out;
  if (rank === 0) {
    dst[0] = src[0];
    return out;
  }
  const counter = new Array<number>(rank).fill(0);
  const base = begin.reduce((s, b, d) => s + b * strides[d], 0);
  const last = rank - 1;
  const inner = outShape[last];
  const innerStep = step[last] * strides[last];
  let off = base;
  for (let i = 0; i < n; i += inner) {
    for (let j = 0; j < inner; j++) dst[i + j] = src[off + j * innerStep];
    for (let d = last - 1; d >= 0; d--) {
      counter[d]++;
      off += step[d] * strides[d];
      if (counter[d] < outShape[d]) break;
      off -= step[d] * strides[d] * outShape[d];
      counter[d] = 0;
    }
  }
  return out;
}

function gather(data: Value, indices: Value, axis: number): Value {
  const rank = data.shape.length;
  const ax = axisOf(axis, rank);
  const dim = data.shape[ax];
  const idx = expectInts(indices, 'indices').map((i) => {
    const j = i < 0 ? i + dim : i;
    if (j < 0 || j >= dim) fail(`index ${i} is out of range for dimension ${dim}`);
    return j;
  });
  const outShape = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
  const out = emptyValue(data.dtype, outShape);
  const outer = sizeOf(data.shape.slice(0, ax));
  const inner = sizeOf(data.shape.slice(ax + 1));
  const src = data.data as Data;
  const dst = out.data as Data;
  let o = 0;
  for (let b = 0; b < outer; b++) {
    for (const j of idx) {
      const from = (b * dim + j) * inner;
      dst.set(src.subarray(from, from + inner) as never, o);
      o += inner;
    }
  }
  return out;
}

const PAD_MODES = ['constant'];

export const shapeOps: Record<string, OpFactory> = {
  Reshape: (a) => {
    const allowZero = a.int('allowzero', 0) === 1;
    a.done();
    return ([x, s]) => {
      const v = input(x);
      return [reshaped(v, reshapeTo(v, expectInts(s, 'shape'), allowZero))];
    };
  },
  Flatten: (a) => {
    const axis = a.int('axis', 1);
    a.done();
    return ([x]) => {
      const v = input(x, 'input');
      const rank = v.shape.length;
      if (axis < -rank || axis > rank) fail(`axis ${axis} is out of range for rank ${rank}`);
      const k = axis < 0 ? axis + rank : axis;
      return [reshaped(v, [sizeOf(v.shape.slice(0, k)), sizeOf(v.shape.slice(k))])];
    };
  },
  Transpose: (a) => {
    const perm = a.ints('perm');
    a.done();
    return ([x]) => {
      const v = input(x);
      const rank = v.shape.length;
      const p = perm ?? v.shape.map((_, i) => rank - 1 - i);
      if (p.length !== rank || [...p].sort((i, j) => i - j).some((d, i) => d !== i)) fail(`perm [${p}] is not a permutation of ${rank} axes`);
      return [transpose(v, p)];
    };
  },
  Concat: (a) => {
    const axis = a.int('axis');
    a.require(axis !== undefined, 'axis', axis, 'Concat needs an axis');
    a.done();
    return (xs) => {
      const values = xs.filter((v): v is Value => v !== undefined);
      if (values.length === 0) fail('has no inputs');
      return [concat(values, axis!)];
    };
  },
  Split: (a, opset, node) => {
    const axis = a.int('axis', 0);
    const splitAttr = opset < 13 ? a.ints('split') : undefined;
    const numOutputs = opset >= 18 ? a.int('num_outputs') : undefined;
    a.done();
    const outputs = node.outputs.length;
    return ([x, s]) => {
      const v = input(x, 'input');
      const ax = axisOf(axis, v.shape.length);
      const dim = v.shape[ax];
      let sizes = splitAttr ?? (s ? expectInts(s, 'split') : undefined);
      if (!sizes) {
        const n = numOutputs ?? outputs;
        // Equal parts; from opset 18 the last may be smaller (ceil-sized chunks).
        const chunk = numOutputs !== undefined ? Math.ceil(dim / n) : dim / n;
        if (!Number.isInteger(chunk)) fail(`cannot split dimension ${dim} into ${n} equal parts`);
        sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
      }
      if (sizes.length !== outputs || sizes.reduce((p, q) => p + q, 0) !== dim || sizes.some((q) => q < 0)) {
        fail(`split [${sizes}] does not divide dimension ${dim} into ${outputs} outputs`);
      }
      let start = 0;
      return sizes.map((size) => {
        const part = slice(v, [start], [start + size], [ax], undefined);
        start += size;
        return part;
      });
    };
  },
  Slice: (a, opset) => {
    if (opset < 10) {
      const starts = a.ints('starts');
      const ends = a.ints('ends');
      const axes = a.ints('axes');
      a.require(starts !== undefined && ends !== undefined, 'starts', starts, 'Slice before opset 10 needs starts and ends');
      a.done();
      return ([x]) => [slice(input(x), starts!, ends!, axes, undefined)];
    }
    a.done();
    return ([x, starts, ends, axes, steps]) => [
      slice(input(x), expectInts(starts, 'starts'), expectInts(ends, 'ends'), axes ? expectInts(axes, 'axes') : undefined, steps ? expectInts(steps, 'steps') : undefined),
    ];
  },
  Squeeze: (a, opset) => {
    const axesOf = axesFrom(a, opset, 13);
    a.done();
    return ([x, axesInput]) => {
      const v = input(x);
      const rank = v.shape.length;
      const axes = axesOf(axesInput)?.map((d) => axisOf(d, rank));
      for (const d of axes ?? []) if (v.shape[d] !== 1) fail(`cannot squeeze axis ${d} of shape [${v.shape}]: it is not 1`);
      return [reshaped(v, v.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)))];
    };
  },
  Unsqueeze: (a, opset) => {
    const axesOf = axesFrom(a, opset, 13);
    if (opset < 13) a.require(a.has('axes'), 'axes', undefined, 'Unsqueeze before opset 13 needs axes');
    a.done();
    return ([x, axesInput]) => {
      const v = input(x);
      const given = axesOf(axesInput) ?? fail('axes are missing');
      const rank = v.shape.length + given.length;
      const axes = given.map((d) => axisOf(d, rank));
      if (new Set(axes).size !== axes.length) fail(`axes [${given}] repeat`);
      const shape: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : v.shape[j++]);
      return [reshaped(v, shape)];
    };
  },
  Pad: (a, opset) => {
    const mode = a.string('mode', 'constant');
    a.require(PAD_MODES.includes(mode), 'mode', mode, "only mode 'constant' is supported");
    const padsAttr = opset < 11 ? a.ints('pads') : undefined;
    if (opset < 11) a.require(padsAttr !== undefined, 'pads', undefined, 'Pad before opset 11 needs pads');
    const valueAttr = opset < 11 ? a.float('value', 0) : 0;
    a.done();
    return ([x, padsInput, constant, axesInput]) => {
      const v = input(x);
      const rank = v.shape.length;
      const pads = padsAttr ?? expectInts(padsInput, 'pads');
      const axes = axesInput ? expectInts(axesInput, 'axes').map((d) => axisOf(d, rank)) : v.shape.map((_, i) => i);
      if (pads.length !== 2 * axes.length) fail(`pads [${pads}] must hold ${2 * axes.length} values`);
      const begin = v.shape.map(() => 0);
      const end = v.shape.map(() => 0);
      axes.forEach((d, i) => {
        begin[d] = pads[i];
        end[d] = pads[i + axes.length];
      });
      const outShape = v.shape.map((d, i) => d + begin[i] + end[i]);
      if (outShape.some((d) => d < 0)) fail(`pads [${pads}] crop more than shape [${v.shape}] has`);
      const fill = constant && constant.data.length > 0 ? constant.data[0] : valueAttr;
      return [padValue(v, begin, outShape, fill)];
    };
  },
  Shape: (a, opset) => {
    const start = opset >= 15 ? a.int('start', 0) : 0;
    const end = opset >= 15 ? a.int('end') : undefined;
    a.done();
    return ([x]) => {
      const shape = input(x).shape;
      const r = shape.length;
      const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
      const dims = shape.slice(clamp(start), end === undefined ? r : clamp(end));
      return [intValue([dims.length], dims)];
    };
  },
  Gather: (a) => {
    const axis = a.int('axis', 0);
    a.done();
    return ([x, indices]) => [gather(input(x), input(indices, 'indices'), axis)];
  },
  Constant: (a) => {
    const value = constantAttribute(a);
    a.done();
    return () => [value];
  },
  ConstantOfShape: (a) => {
    const value = a.tensor('value');
    a.require(value === undefined || value.data.length === 1, 'value', value?.shape, 'must hold one element');
    a.done();
    return ([s]) => {
      const shape = expectInts(s, 'input');
      const out = emptyValue(value?.dtype ?? 'float32', shape);
      if (value) (out.data as Data).fill(value.data[0]);
      return [out];
    };
  },
};

function constantAttribute(a: Attributes): Value {
  const options: [string, () => Value | undefined][] = [
    ['value', () => a.tensor('value')],
    ['value_float', () => (a.has('value_float') ? floatValue([], Float32Array.of(a.float('value_float', 0))) : undefined)],
    ['value_floats', () => {
      const f = a.floats('value_floats');
      return f ? floatValue([f.length], Float32Array.from(f)) : undefined;
    }],
    ['value_int', () => (a.has('value_int') ? intValue([], [a.int('value_int', 0)]) : undefined)],
    ['value_ints', () => {
      const i = a.ints('value_ints');
      return i ? intValue([i.length], i) : undefined;
    }],
  ];
  for (const [, read] of options) {
    const v = read();
    if (v) return v;
  }
  const other = [...a.node.attributes.keys()][0];
  throw a.unsupported(other ?? 'value', other ? a.node.attributes.get(other)!.type : 'none', 'Constant supports value, value_float(s) and value_int(s)');
}

export type { Kernel };
