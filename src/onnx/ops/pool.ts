// MaxPool, AveragePool (1-, 2- and 3-D windows: PyTorch's LRN export pools a
// 5-D tensor) and GlobalAveragePool. The project's maxPool2d runs the cases it
// fits exactly; the rest goes through one window loop over three spatial
// dimensions (fewer are padded with size-1 ones): the ranged kernels
// (kernels/ranged/pool.ts) run over all their planes, the code the engine's
// workers run. Outputs come from floatArray, so forwardWith can place them in
// shared memory.
import { runAllUnits } from '../../kernels/ranged/index.js';
import { globalPoolOp, windowPoolOp } from '../../kernels/ranged/pool.js';
import { maxPool2d } from '../../ops/pooling.js';
import { fail, type Attributes } from './attrs.js';
import { resolvePads, windowAttributes } from './conv.js';
import { expectFloat, floatArray, floatValue, MAX_ELEMENTS, sizeOf, type FloatValue, type Value } from '../value.js';
import type { OpFactory } from './attrs.js';

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  begin: number[];
  end: number[];
  out: number[];
}

/**
 * Output size of a pooling window, as PyTorch (and onnxruntime) compute it: in
 * ceil mode the last window must start inside the input or its leading padding.
 */
export function pooledSize(size: number, k: number, s: number, padBegin: number, padEnd: number, d: number, ceil: boolean): number {
  const span = size + padBegin + padEnd - d * (k - 1) - 1;
  if (span < 0) fail(`input size ${size} is smaller than the window (${k}, dilation ${d})`);
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + padBegin) out--;
  return out;
}

function resolveWindow(x: FloatValue, w: ReturnType<typeof windowAttributes>, ceil: boolean): Window {
  const spatial = x.shape.slice(2);
  const kernel = w.kernelShape!;
  if (spatial.length !== kernel.length) fail(`input [${x.shape}] does not have ${kernel.length} spatial dimensions`);
  const strides = w.strides ?? kernel.map(() => 1);
  const dilations = w.dilations ?? kernel.map(() => 1);
  const [begin, end] = resolvePads(w.autoPad, w.pads, spatial, kernel, strides, dilations);
  const out = spatial.map((size, i) =>
    w.autoPad.startsWith('SAME') ? Math.ceil(size / strides[i]) : pooledSize(size, kernel[i], strides[i], begin[i], end[i], dilations[i], ceil),
  );
  // Checked before maxPool2d or pool() allocate: pads can make the output far larger than the input.
  if (x.shape[0] * x.shape[1] * sizeOf(out) > MAX_ELEMENTS) fail(`pooling [${x.shape}] gives an output of [${out}] per channel, larger than groupconv allows`);
  return { kernel, strides, dilations, begin, end, out };
}

/** Pads a window's description to three spatial dimensions (leading size-1 dimensions). */
function to3d(x: FloatValue, w: Window) {
  const lead = 3 - w.kernel.length;
  const pad = <T>(values: T[], fill: T) => [...new Array<T>(lead).fill(fill), ...values];
  return {
    size: pad(x.shape.slice(2), 1),
    k: pad(w.kernel, 1),
    s: pad(w.strides, 1),
    d: pad(w.dilations, 1),
    b: pad(w.begin, 0),
    e: pad(w.end, 0),
    o: pad(w.out, 1),
  };
}

function pool(x: FloatValue, w: Window, kind: 'max' | 'avg', countIncludePad: boolean): FloatValue {
  const { size, k, s, d, b, e, o } = to3d(x, w);
  const planes = x.shape[0] * x.shape[1];
  const out = floatArray(planes * sizeOf(o));
  runAllUnits(windowPoolOp(kind, countIncludePad, planes, { size, kernel: k, stride: s, dilation: d, begin: b, end: e, out: o }), [x.data], [out]);
  return floatValue([x.shape[0], x.shape[1], ...w.out], out);
}

function poolAttributes(a: Attributes, dilations: boolean) {
  const w = windowAttributes(a, [1, 2, 3], dilations);
  a.require(w.kernelShape !== undefined, 'kernel_shape', undefined, 'pooling needs kernel_shape');
  const ceil = a.int('ceil_mode', 0);
  a.require(ceil === 0 || ceil === 1, 'ceil_mode', ceil, 'must be 0 or 1');
  return { w, ceil: ceil === 1 };
}

export const poolOps: Record<string, OpFactory> = {
  MaxPool: (a, _opset, node) => {
    const { w, ceil } = poolAttributes(a, true);
    const order = a.int('storage_order', 0);
    a.require(order === 0, 'storage_order', order, 'only row-major (0) is supported');
    a.done();
    if (node.outputs.length > 1 && node.outputs[1] !== '') throw a.unsupported('Indices', node.outputs[1], "MaxPool's Indices output is not supported");
    return ([input]) => {
      const x = expectFloat(input, 'X');
      const win = resolveWindow(x, w, ceil);
      const [k, s, d, p] = [win.kernel, win.strides, win.dilations, win.begin];
      // maxPool2d is PyTorch's max_pool2d: symmetric padding of at most half the window.
      const fits =
        k.length === 2 && x.shape.length === 4 && p[0] === win.end[0] && p[1] === win.end[1] && p[0] <= k[0] / 2 && p[1] <= k[1] / 2 && !w.autoPad.startsWith('SAME');
      if (fits) {
        const r = maxPool2d(x, { kernelSize: [k[0], k[1]], stride: [s[0], s[1]], padding: [p[0], p[1]], dilation: [d[0], d[1]], ceilMode: ceil }, floatArray(x.shape[0] * x.shape[1] * sizeOf(win.out)));
        return [floatValue(r.shape, r.data)];
      }
      return [pool(x, win, 'max', false)];
    };
  },
  AveragePool: (a, opset) => {
    // dilations arrived in opset 19; before that they are not an AveragePool attribute.
    const { w, ceil } = poolAttributes(a, opset >= 19);
    const includePad = a.int('count_include_pad', 0);
    a.require(includePad === 0 || includePad === 1, 'count_include_pad', includePad, 'must be 0 or 1');
    a.done();
    return ([input]) => {
      const x = expectFloat(input, 'X');
      const win = resolveWindow(x, w, ceil);
      if (win.dilations.some((v) => v !== 1)) fail('dilated average pooling is not supported');
      return [pool(x, win, 'avg', includePad === 1)];
    };
  },
  GlobalMaxPool: (a) => {
    a.done();
    return ([input]) => [globalPool(input, 'globalMaxPool')];
  },
  GlobalAveragePool: (a) => {
    a.done();
    // adaptiveAvgPool2d(x, 1)'s arithmetic (a plane's double sums in the lane order of kernels/plane-mean.ts), for any rank.
    return ([input]) => [globalPool(input, 'globalAveragePool')];
  },
};

/**
 * One value per (image, channel) plane, by the ranged `kernel`, into
 * floatArray, so that under forwardWith the output is in shared memory (a
 * squeeze-excitation Conv reads it).
 */
function globalPool(input: Value | undefined, kernel: 'globalAveragePool' | 'globalMaxPool'): FloatValue {
  const x = expectFloat(input, 'X');
  if (x.shape.length < 3) fail(`input [${x.shape}] has no spatial dimensions`);
  const plane = sizeOf(x.shape.slice(2));
  const planes = x.shape[0] * x.shape[1];
  const out = floatArray(planes);
  runAllUnits(globalPoolOp(kernel, planes, plane), [x.data], [out]);
  return floatValue([x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)], out);
}
