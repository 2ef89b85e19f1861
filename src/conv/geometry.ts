import { errors } from '../errors.js';
import { checkAllocatable, checkTensor } from '../tensor/tensor.js';

export type Pair = number | [number, number];
export type Padding = Pair | 'same' | 'valid';

/** The options of torch.nn.functional.conv2d, with its defaults. */
export interface Conv2dOptions {
  stride?: Pair;
  padding?: Padding;
  dilation?: Pair;
  groups?: number;
}

/**
 * Everything a kernel needs to know about one convolution, resolved and
 * checked once. Kernels, the scheduler and the workers all speak this.
 */
export interface ConvGeometry {
  batch: number;
  inChannels: number;
  inHeight: number;
  inWidth: number;
  outChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  groups: number;
  inChannelsPerGroup: number;
  outChannelsPerGroup: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  outHeight: number;
  outWidth: number;
  hasBias: boolean;
}

/**
 * The part of the output one piece of work computes: images
 * [batchStart, batchEnd) x output channels [outChannelStart, outChannelEnd),
 * and of each of their planes the positions (row-major, `y * outWidth + x`)
 * [positionStart, positionEnd), the whole plane when absent. A range may span
 * several groups; a kernel writes every element of it. Only the native 1x1
 * kernel computes runs of positions (src/engine/position-cut.ts says where).
 */
export interface ConvSlice {
  batchStart: number;
  batchEnd: number;
  outChannelStart: number;
  outChannelEnd: number;
  positionStart?: number;
  positionEnd?: number;
}

/** The slice's run of positions in each plane of `g`'s output: [start, end). */
export function slicePositions(g: ConvGeometry, s: ConvSlice): [number, number] {
  return [s.positionStart ?? 0, s.positionEnd ?? g.outHeight * g.outWidth];
}

const OPTION_KEYS = ['stride', 'padding', 'dilation', 'groups'] as const;

function pair(name: string, value: unknown, minimum: 0 | 1): [number, number] {
  const values = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(values) || values.length !== 2 || !values.every((v) => typeof v === 'number')) {
    throw errors.badPair(name, value, 'a number or a pair [h, w]');
  }
  for (const v of values) {
    if (!Number.isInteger(v) || v < minimum) {
      if (minimum === 1) throw errors.notPositiveInteger(name, value);
      throw errors.notNonNegativeInteger(name, value);
    }
  }
  return [values[0], values[1]];
}

export interface ResolvedConv {
  geometry: ConvGeometry;
  /** True when the input was unbatched [C, H, W] (so is the output). */
  unbatched: boolean;
}

/**
 * Checks conv2d's arguments the way torch.nn.functional.conv2d does and
 * resolves them to a geometry. Throws ArgumentError naming the argument.
 */
export function resolveConv2d(input: unknown, weight: unknown, bias: unknown, options: Conv2dOptions = {}): ResolvedConv {
  const x = checkTensor('input', input, [3, 4]);
  const w = checkTensor('weight', weight, [4]);
  const b = bias === null || bias === undefined ? null : checkTensor('bias', bias);
  return resolveShapes(x.shape, w.shape, b ? b.shape : null, options);
}

export interface CheckedConvOptions {
  groups: number;
  stride: [number, number];
  dilation: [number, number];
  padding: [number, number] | 'same' | 'valid';
}

/** Checks stride, padding, dilation and groups on their own (no shapes needed). */
export function checkConvOptions(options: Conv2dOptions): CheckedConvOptions {
  if (options === null || typeof options !== 'object') throw errors.invalid('options', 'expected an object');
  for (const key of Object.keys(options)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) throw errors.unknownOption('options', key, OPTION_KEYS);
  }
  const groups = options.groups ?? 1;
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups <= 0) throw errors.notPositiveInteger('groups', groups);
  const stride = pair('stride', options.stride ?? 1, 1);
  const dilation = pair('dilation', options.dilation ?? 1, 1);
  const rawPadding = options.padding ?? 0;
  let padding: CheckedConvOptions['padding'];
  if (rawPadding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw errors.sameWithStride(stride);
    padding = 'same';
  } else if (rawPadding === 'valid') {
    padding = 'valid';
  } else if (typeof rawPadding === 'string') {
    throw errors.badPair('padding', rawPadding, "a non-negative integer, a pair [h, w], 'same' or 'valid'");
  } else {
    padding = pair('padding', rawPadding, 0);
  }
  return { groups, stride, dilation, padding };
}

/** The same checks on shapes alone, for planning without data. */
export function resolveShapes(
  inputShape: number[],
  weightShape: number[],
  biasShape: number[] | null,
  options: Conv2dOptions = {},
): ResolvedConv {
  if (inputShape.length !== 3 && inputShape.length !== 4) throw errors.rank('input', 'rank 4 [N, C, H, W] or rank 3 [C, H, W]', inputShape);
  if (weightShape.length !== 4) throw errors.rank('weight', 'rank 4 [Cout, Cin/groups, kH, kW]', weightShape);
  const unbatched = inputShape.length === 3;
  const [batch, inChannels, inHeight, inWidth] = unbatched ? [1, ...inputShape] : inputShape;

  const { groups, stride, dilation, padding } = checkConvOptions(options);

  const [outChannels, weightInChannels, kernelHeight, kernelWidth] = weightShape;
  if (outChannels % groups !== 0) throw errors.channelsNotDivisible('weight.shape[0] (output channels)', outChannels, groups);
  if (inChannels % groups !== 0) throw errors.channelsNotDivisible('input.shape[1] (input channels)', inChannels, groups);
  if (weightInChannels * groups !== inChannels) throw errors.weightInChannels(weightShape, inputShape, groups);
  if (kernelHeight === 0 || kernelWidth === 0) throw errors.invalid('weight.shape', `kernel size must be positive, got ${kernelHeight} x ${kernelWidth}`);

  if (biasShape && (biasShape.length !== 1 || biasShape[0] !== outChannels)) throw errors.biasLength(biasShape, outChannels);

  const effectiveH = dilation[0] * (kernelHeight - 1) + 1;
  const effectiveW = dilation[1] * (kernelWidth - 1) + 1;
  let padTop: number, padBottom: number, padLeft: number, padRight: number;
  if (padding === 'valid') {
    padTop = padBottom = padLeft = padRight = 0;
  } else if (padding === 'same') {
    // As PyTorch: the odd extra zero goes at the bottom / right.
    const totalH = effectiveH - 1;
    const totalW = effectiveW - 1;
    padTop = Math.floor(totalH / 2);
    padBottom = totalH - padTop;
    padLeft = Math.floor(totalW / 2);
    padRight = totalW - padLeft;
  } else {
    const [ph, pw] = padding;
    padTop = padBottom = ph;
    padLeft = padRight = pw;
  }

  const paddedH = inHeight + padTop + padBottom;
  const paddedW = inWidth + padLeft + padRight;
  if (effectiveH > paddedH || effectiveW > paddedW) throw errors.kernelTooLarge([paddedH, paddedW], [effectiveH, effectiveW]);

  const geometry: ConvGeometry = {
    batch,
    inChannels,
    inHeight,
    inWidth,
    outChannels,
    kernelHeight,
    kernelWidth,
    groups,
    inChannelsPerGroup: inChannels / groups,
    outChannelsPerGroup: outChannels / groups,
    strideH: stride[0],
    strideW: stride[1],
    dilationH: dilation[0],
    dilationW: dilation[1],
    padTop,
    padBottom,
    padLeft,
    padRight,
    outHeight: Math.floor((paddedH - effectiveH) / stride[0]) + 1,
    outWidth: Math.floor((paddedW - effectiveW) / stride[1]) + 1,
    hasBias: biasShape !== null,
  };
  const resolved = { geometry, unbatched };
  // An output no allocation can hold fails here, naming its shape, before anything runs or is allocated.
  checkAllocatable('output', outputShapeOf(resolved));
  return resolved;
}

export function outputShapeOf(resolved: ResolvedConv): number[] {
  const g = resolved.geometry;
  return resolved.unbatched ? [g.outChannels, g.outHeight, g.outWidth] : [g.batch, g.outChannels, g.outHeight, g.outWidth];
}

/** The whole output as one slice. */
export function fullSlice(g: ConvGeometry): ConvSlice {
  return { batchStart: 0, batchEnd: g.batch, outChannelStart: 0, outChannelEnd: g.outChannels };
}

/** Multiply-accumulates of a slice: each output value is a sum over Cin/groups * kH * kW products. */
export function sliceMacs(g: ConvGeometry, s: ConvSlice): number {
  const [p0, p1] = slicePositions(g, s);
  return (
    (s.batchEnd - s.batchStart) *
    (s.outChannelEnd - s.outChannelStart) *
    (p1 - p0) *
    g.inChannelsPerGroup *
    g.kernelHeight *
    g.kernelWidth
  );
}

/** FLOPs of the whole convolution, counted as 2 x multiply-accumulates (bias adds not counted). */
export function convFlops(g: ConvGeometry): number {
  return 2 * sliceMacs(g, fullSlice(g));
}
