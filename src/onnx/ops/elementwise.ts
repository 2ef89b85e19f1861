// Elementwise ops: the broadcasting binary arithmetic, the activations, Clip,
// Cast and the pass-throughs. Arithmetic is done in double precision and
// rounded once to float32, which for + - * / is exactly float32 arithmetic.
// Float arithmetic and the common activations run the ranged kernels
// (kernels/ranged) over all their units: the code the engine's workers run
// them with, so the two give the same bits by construction, and a loop of
// its own per op and layout.
import { runAllUnits } from '../../kernels/ranged/index.js';
import { binaryRangedOp } from '../../kernels/ranged/binary.js';
import { erf, unaryOp } from '../../kernels/ranged/unary.js';
import type { RangedParams } from '../../kernels/ranged/types.js';
import { relu } from '../../ops/relu.js';
import { fail, type Attributes } from './attrs.js';
import { binaryOp, broadcastShape, expandTo } from './broadcast.js';
import type { Kernel } from '../graph.js';
import { boolValue, expectFloat, expectInts, floatArray, floatValue, intValue, type DType, type FloatValue, type Value } from '../value.js';
import type { OpFactory } from './attrs.js';

/** Float operands through the ranged `kernel` (its layouts: same shape, runs, general); integers through binaryOp with `intF`. */
function arithmetic(kernel: string, intF: (x: number, y: number) => number): OpFactory {
  return (a) => {
    a.done();
    return ([x, y]) => {
      if (!x || !y) fail('needs two inputs');
      if (x.dtype !== y.dtype) fail(`input types differ (${x.dtype} and ${y.dtype})`);
      if (x.dtype === 'bool') fail('is not defined for bool tensors');
      if (x.dtype === 'float32') return [floatBinary(kernel, x, y as FloatValue)];
      return [binaryOp(x, y, x.dtype, intF)];
    };
  };
}

function floatBinary(kernel: string, x: FloatValue, y: FloatValue): FloatValue {
  const r = binaryRangedOp(kernel, x.shape, y.shape) ?? fail(`shapes [${x.shape}] and [${y.shape}] do not broadcast`);
  const out = floatValue(r.shape);
  runAllUnits(r.op, [x.data, y.data], [out.data]);
  return out;
}

/** A unary float op through its ranged kernel. */
function rangedUnary(kernel: string, params: RangedParams = {}): Kernel {
  return ([x]) => {
    const v = expectFloat(x, 'X');
    const out = floatArray(v.data.length);
    runAllUnits(unaryOp(kernel, v.data.length, params), [v.data], [out]);
    return [floatValue(v.shape, out)];
  };
}

function unary(f: (x: number) => number): (a: Attributes) => Kernel {
  return () => ([x]) => {
    const v = expectFloat(x, 'X');
    const out = floatArray(v.data.length);
    for (let i = 0; i < out.length; i++) out[i] = f(v.data[i]);
    return [floatValue(v.shape, out)];
  };
}

const withDone =
  (make: (a: Attributes) => Kernel): OpFactory =>
  (a) => {
    const k = make(a);
    a.done();
    return k;
  };

export { erf };

export const elementwiseOps: Record<string, OpFactory> = {
  Add: arithmetic('add', (x, y) => x + y),
  Sub: arithmetic('sub', (x, y) => x - y),
  Mul: arithmetic('mul', (x, y) => x * y),
  // Integer division truncates (as onnxruntime's C++ does); exporters divide positive shape numbers.
  Div: arithmetic('div', (x, y) => (y === 0 ? fail('integer division by zero') : Math.trunc(x / y))),
  Pow: (a) => {
    a.done();
    return ([x, y]) => {
      const base = expectFloat(x, 'X');
      if (!y || y.dtype === 'bool') fail('Y must be numeric');
      if (y.dtype === 'float32') return [floatBinary('pow', base, y)];
      // x^2, the exporter's square, as x*x: what PyTorch computes for pow(x, 2) (the ranged kernel's rule too).
      return [binaryOp(base, y, 'float32', (p, q) => (q === 2 ? p * p : Math.pow(p, q)))];
    };
  },
  Equal: (a) => {
    a.done();
    return ([x, y]) => {
      if (!x || !y) fail('needs two inputs');
      return [binaryOp(x, y, 'bool', (p, q) => (p === q ? 1 : 0))];
    };
  },
  Less: compare((p, q) => p < q),
  Greater: compare((p, q) => p > q),
  Not: (a) => {
    a.done();
    return ([x]) => {
      if (!x || x.dtype !== 'bool') fail('Not needs a bool input');
      return [boolValue(x.shape, Uint8Array.from(x.data, (v) => (v ? 0 : 1)))];
    };
  },
  // Variadic, broadcasting: the running result with each further input.
  Max: variadic((x, y) => (x > y || Number.isNaN(x) ? x : y)),
  Min: variadic((x, y) => (x < y || Number.isNaN(x) ? x : y)),
  Sum: variadic((x, y) => x + y),
  Mean: (a, opset, node, initializer) => {
    const sum = variadic((x, y) => x + y)(a, opset, node, initializer);
    return (inputs) => {
      const [s] = sum(inputs);
      const n = inputs.filter((v) => v !== undefined).length;
      return [binaryOp(s, floatValue([], Float32Array.of(n)), 'float32', (x, y) => x / y)];
    };
  },
  Where: (a) => {
    a.done();
    return ([c, x, y]) => {
      if (!c || c.dtype !== 'bool' || !x || !y) fail('Where needs a bool condition and two values');
      if (x.dtype !== y.dtype) fail(`X and Y types differ (${x.dtype}, ${y.dtype})`);
      const shape = broadcastShape(broadcastShape(c.shape, x.shape), y.shape);
      const [cc, xx, yy] = [expandTo(c, shape), expandTo(x, shape), expandTo(y, shape)];
      const out = xx.dtype === 'float32' ? floatArray(xx.data.length) : xx.dtype === 'int64' ? new Float64Array(xx.data.length) : new Uint8Array(xx.data.length);
      for (let i = 0; i < out.length; i++) out[i] = cc.data[i] ? xx.data[i] : yy.data[i];
      return [{ dtype: xx.dtype, shape, data: out } as Value];
    };
  },
  Expand: (a) => {
    a.done();
    return ([x, s]) => [expandTo(x ?? fail('input is missing'), expectInts(s, 'shape'))];
  },
  PRelu: (a) => {
    a.done();
    return ([x, slope]) => [binaryOp(expectFloat(x, 'X'), expectFloat(slope, 'slope'), 'float32', (v, s) => (v < 0 ? v * s : v))];
  },
  LeakyRelu: withDone((a) => rangedUnary('leakyRelu', { alpha: a.float('alpha', 0.01) })),
  Elu: withDone((a) => {
    const alpha = a.float('alpha', 1);
    return unary((x) => (x < 0 ? alpha * Math.expm1(x) : x))(a);
  }),
  Softplus: withDone(unary((x) => (x > 30 ? x : Math.log1p(Math.exp(x))))),
  Neg: withDone(() => rangedUnary('neg')),
  Abs: withDone(() => rangedUnary('abs')),
  Exp: withDone(() => rangedUnary('exp')),
  Log: withDone(unary(Math.log)),
  Tanh: withDone(() => rangedUnary('tanh')),
  Reciprocal: withDone(unary((x) => 1 / x)),
  Floor: withDone(unary(Math.floor)),
  Ceil: withDone(unary(Math.ceil)),
  Sqrt: withDone(() => rangedUnary('sqrt')),
  Erf: withDone(() => rangedUnary('erf')),
  // EfficientNet's SiLU runs it on every activation: the ranged kernel's loop is its own.
  Sigmoid: withDone(() => rangedUnary('sigmoid')),
  Relu: (a) => {
    a.done();
    return ([x]) => {
      const v = expectFloat(x, 'X');
      const r = relu(v, floatArray(v.data.length));
      return [floatValue(r.shape, r.data)];
    };
  },
  HardSigmoid: withDone((a) => rangedUnary('hardSigmoid', { alpha: a.float('alpha', 0.2), beta: a.float('beta', 0.5) })),
  // PyTorch's hardswish, x * relu6(x + 3) / 6 with each operation rounded to float32 as PyTorch does
  // (ONNX defines x * max(0, min(1, x / 6 + 0.5)), which differs by rounding): the epilogue's
  // formula, so a HardSwish fused into a Conv (../fuse.ts) gives these bits.
  HardSwish: withDone(() => rangedUnary('hardSwish')),
  Clip: (a, opset) => {
    // Before opset 11 the bounds are attributes; from 11 on, optional inputs.
    const minAttr = opset < 11 ? a.float('min', -Infinity) : -Infinity;
    const maxAttr = opset < 11 ? a.float('max', Infinity) : Infinity;
    a.done();
    return ([x, lo, hi]) => {
      const v = expectFloat(x, 'input');
      const min = lo ? scalarOf(lo, 'min') : minAttr;
      const max = hi ? scalarOf(hi, 'max') : maxAttr;
      return rangedUnary('clip', { min, max })([v]);
    };
  },
  Identity: (a) => {
    a.done();
    return ([x]) => [x ?? fail('input is missing')];
  },
  Dropout: (a, opset, node) => {
    // Inference: the identity. (ratio / training_mode inputs from opset 12; seed may be set.)
    a.ignore('ratio', 'seed');
    if (opset < 7) a.ignore('is_test');
    a.done();
    return ([input, , training]) => {
      if (training && training.data[0]) fail('training_mode = true is not supported (inference only)');
      const x = input ?? fail('input is missing');
      const out: Value[] = [x];
      // The optional mask output: all kept.
      if (node.outputs.length > 1 && node.outputs[1] !== '') out.push(boolValue(x.shape, new Uint8Array(x.data.length).fill(1)));
      return out;
    };
  },
  Cast: (a) => {
    const to = a.int('to');
    const target = castTarget(to);
    a.require(target !== null, 'to', to, 'groupconv casts only to FLOAT, DOUBLE (as float32), the integer types and BOOL');
    a.done();
    return ([x]) => [cast(x ?? fail('input is missing'), target!)];
  },
};

function compare(f: (x: number, y: number) => boolean): OpFactory {
  return (a) => {
    a.done();
    return ([x, y]) => {
      if (!x || !y) fail('needs two inputs');
      return [binaryOp(x, y, 'bool', (p, q) => (f(p, q) ? 1 : 0))];
    };
  };
}

function variadic(f: (x: number, y: number) => number): OpFactory {
  return (a) => {
    a.done();
    return (inputs) => {
      const values = inputs.filter((v): v is Value => v !== undefined);
      if (values.length === 0) fail('needs at least one input');
      let acc = values[0];
      for (const v of values.slice(1)) {
        if (v.dtype !== acc.dtype) fail(`input types differ (${acc.dtype}, ${v.dtype})`);
        acc = binaryOp(acc, v, acc.dtype, f);
      }
      return [acc];
    };
  };
}

function scalarOf(v: Value, what: string): number {
  if (v.data.length !== 1) fail(`${what} must be a scalar, got shape [${v.shape}]`);
  return v.data[0];
}

/** ONNX data types a Cast may go to, by the Value they become. */
function castTarget(to: number | undefined): DType | null {
  if (to === undefined) return null;
  // FLOAT16/BFLOAT16 would need rounding to their precision; only the exact ones are accepted.
  if (to === 1 || to === 11) return 'float32';
  if ([2, 3, 4, 5, 6, 7, 12, 13].includes(to)) return 'int64';
  if (to === 9) return 'bool';
  return null;
}

function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  if (to === 'float32') return floatValue(x.shape, Float32Array.from(x.data as ArrayLike<number>));
  if (to === 'int64') return intValue(x.shape, Array.from(x.data as ArrayLike<number>, (v) => Math.trunc(v)));
  return boolValue(x.shape, Uint8Array.from(x.data as ArrayLike<number>, (v) => (v !== 0 ? 1 : 0)));
}
