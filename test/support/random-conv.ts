// Random valid conv2d specifications from a seeded generator: one generator for
// every suite, each suite naming the ranges it needs. Also convolutions of
// given shapes with random values.
import type { Conv2dOptions, Random, Tensor } from '../../src/index.js';
import type { NaiveSpec } from './naive-conv.js';
import { randomTensor } from './tensors.js';

/** conv2d's arguments. */
export interface ConvSpec {
  input: Tensor;
  weight: Tensor;
  bias: Tensor | null;
  options: Conv2dOptions;
}

export interface RandomConv extends ConvSpec {
  /** The same convolution for the independent oracle, padding as four sides (batched inputs only). */
  naive: NaiveSpec;
  /** Shapes and options, for failure messages. */
  description: string;
}

type Range = readonly [low: number, high: number];

/**
 * What randomConv draws from. A chance of 0 draws nothing from the generator,
 * so a suite that does not use a feature keeps the specs its seed always gave.
 */
export interface ConvRanges {
  /** Group counts, one picked uniformly (list one twice to weight it). */
  groups: readonly number[];
  /** Chance of a depthwise layer: one input channel per group. */
  depthwiseChance: number;
  inChannelsPerGroup: Range;
  outChannelsPerGroup: Range;
  /** Output channels per group of a depthwise layer (the channel multiplier). */
  depthwiseMultiplier: Range;
  kernel: Range;
  /** Chance the kernel is square; otherwise its width is drawn on its own. */
  squareKernelChance: number;
  stride: Range;
  /** Chance of no dilation; otherwise each side is drawn from `dilation`. */
  undilatedChance: number;
  dilation: Range;
  batch: Range;
  /** Chance of an unbatched [C, H, W] input. */
  unbatchedChance: number;
  /** Input height and width, each drawn on its own. */
  size: Range;
  /**
   * Chance of padding 'same', which needs stride 1: a strided layer that draws
   * it gets 'valid' instead if `validChance` is above 0, else explicit padding.
   */
  sameChance: number;
  /** Chance of padding 'valid'. Otherwise the padding is explicit, each side from `padding`. */
  validChance: number;
  padding: Range;
  /** Chance the horizontal padding equals the vertical. */
  equalPaddingChance: number;
  /** Chance equal padding is written as one number rather than a pair. */
  scalarPaddingChance: number;
  biasChance: number;
  /**
   * 'fan-in': weights scaled by 1/sqrt(Cin/groups * kH * kW) and bias by 0.5, as
   * in a trained layer, so outputs stay near 1 and an absolute tolerance means
   * something; 'unit': every value standard normal.
   */
  values: 'fan-in' | 'unit';
}

/**
 * Wide ranges for checking values against the oracle: up to 8 groups,
 * depthwise layers, 5x5 kernels, strides and dilations to 3, 'same' (odd totals
 * too), 'valid' and scalar padding, inputs to 14 x 14.
 */
export const ORACLE_CONVS: ConvRanges = {
  groups: [1, 1, 2, 3, 4, 6, 8],
  depthwiseChance: 0.2,
  inChannelsPerGroup: [1, 5],
  outChannelsPerGroup: [1, 5],
  depthwiseMultiplier: [1, 3],
  kernel: [1, 5],
  squareKernelChance: 0.5,
  stride: [1, 3],
  undilatedChance: 0.7,
  dilation: [1, 3],
  batch: [1, 3],
  unbatchedChance: 0,
  size: [1, 14],
  sameChance: 0.15,
  validChance: 0.1,
  padding: [0, 3],
  equalPaddingChance: 0.5,
  scalarPaddingChance: 0.5,
  biasChance: 0.5,
  values: 'fan-in',
};

/**
 * Small layers for the engine's tests, cheap enough to run many times on
 * several engines: up to 4 groups, 3x3 kernels, strides and dilations to 2,
 * unbatched inputs, inputs to 9 x 9.
 */
export const SMALL_CONVS: ConvRanges = {
  groups: [1, 2, 3, 4],
  depthwiseChance: 0,
  inChannelsPerGroup: [1, 3],
  outChannelsPerGroup: [1, 4],
  depthwiseMultiplier: [1, 1],
  kernel: [1, 3],
  squareKernelChance: 0,
  stride: [1, 2],
  undilatedChance: 0,
  dilation: [1, 2],
  batch: [1, 4],
  unbatchedChance: 0.2,
  size: [1, 9],
  sameChance: 0.2,
  validChance: 0,
  padding: [0, 2],
  equalPaddingChance: 0,
  scalarPaddingChance: 0,
  biasChance: 0.6,
  values: 'unit',
};

/** Integer and yes/no draws from `random`; a chance of 0 draws nothing. */
function drawsFrom(random: Random) {
  return {
    int: ([low, high]: Range) => random.int(low, high),
    chance: (p: number) => p > 0 && random.next() < p,
  };
}

/** A random valid conv2d: a kernel never larger than its padded input. */
export function randomConv(random: Random, ranges: ConvRanges): RandomConv {
  const { int, chance } = drawsFrom(random);
  for (;;) {
    const groups = random.pick(ranges.groups);
    const depthwise = chance(ranges.depthwiseChance);
    const cinPerGroup = depthwise ? 1 : int(ranges.inChannelsPerGroup);
    const coutPerGroup = int(depthwise ? ranges.depthwiseMultiplier : ranges.outChannelsPerGroup);
    const kH = int(ranges.kernel);
    // Drawn even when the kernel turns out square: the order of draws is what keeps a seed's specs.
    const ownWidth = int(ranges.kernel);
    const kW = chance(ranges.squareKernelChance) ? kH : ownWidth;
    const stride: [number, number] = [int(ranges.stride), int(ranges.stride)];
    const dilation: [number, number] = chance(ranges.undilatedChance) ? [1, 1] : [int(ranges.dilation), int(ranges.dilation)];
    const batch = int(ranges.batch);
    const unbatched = chance(ranges.unbatchedChance);
    const H = int(ranges.size);
    const W = int(ranges.size);
    const { padding, pads } = randomPadding(random, ranges, stride, dilation, kH, kW);
    if (dilation[0] * (kH - 1) + 1 > H + pads[0] + pads[1] || dilation[1] * (kW - 1) + 1 > W + pads[2] + pads[3]) continue;

    const K = cinPerGroup * kH * kW;
    const fanIn = ranges.values === 'fan-in';
    const inChannels = groups * cinPerGroup;
    const outChannels = groups * coutPerGroup;
    const input = randomTensor(random, unbatched ? [inChannels, H, W] : [batch, inChannels, H, W]);
    const weight = randomTensor(random, [outChannels, cinPerGroup, kH, kW], { scale: fanIn ? 1 / Math.sqrt(K) : 1 });
    const bias = chance(ranges.biasChance) ? randomTensor(random, [outChannels], { scale: fanIn ? 0.5 : 1 }) : null;
    return {
      input,
      weight,
      bias,
      options: { stride, padding, dilation, groups },
      naive: { stride, dilation, padding: pads, groups },
      description: `x[${input.shape}] w[${weight.shape}] groups=${groups} stride=${stride} pad=${JSON.stringify(padding)} dil=${dilation} bias=${!!bias}`,
    };
  }
}

/** The padding option, and the [top, bottom, left, right] it comes to. */
function randomPadding(
  random: Random,
  ranges: ConvRanges,
  stride: [number, number],
  dilation: [number, number],
  kH: number,
  kW: number,
): { padding: Conv2dOptions['padding']; pads: [number, number, number, number] } {
  const { int, chance } = drawsFrom(random);
  // One draw decides between 'same', 'valid' and explicit padding.
  const mode = ranges.sameChance + ranges.validChance > 0 ? random.next() : 1;
  if (mode < ranges.sameChance && stride[0] === 1 && stride[1] === 1) {
    const th = dilation[0] * (kH - 1);
    const tw = dilation[1] * (kW - 1);
    return { padding: 'same', pads: [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)] };
  }
  if (ranges.validChance > 0 && mode < ranges.sameChance + ranges.validChance) return { padding: 'valid', pads: [0, 0, 0, 0] };
  const ph = int(ranges.padding);
  const pw = chance(ranges.equalPaddingChance) ? ph : int(ranges.padding);
  const padding = chance(ranges.scalarPaddingChance) && ph === pw ? ph : ([ph, pw] as [number, number]);
  return { padding, pads: [ph, ph, pw, pw] };
}

/**
 * A convolution of the given shapes with standard normal input, weight and
 * (unless `bias` is false) one bias per output channel, drawn in that order.
 */
export function randomConvOfShapes(
  random: Random,
  inputShape: readonly number[],
  weightShape: readonly number[],
  options: Conv2dOptions,
  { bias = true } = {},
): ConvSpec {
  return {
    input: randomTensor(random, inputShape),
    weight: randomTensor(random, weightShape),
    bias: bias ? randomTensor(random, [weightShape[0]]) : null,
    options,
  };
}
