// Weights repacked for the WebAssembly kernels: channel blocks for the direct
// kernels, transformed weights for Winograd. packConvWeights packs a layer
// once for every input shape it is planned for.
import type { Pair } from '../../conv/geometry.js';
import { errors } from '../../errors.js';
import { sharedArena } from '../../memory/arena.js';
import { kindFor, subKernels } from './selection.js';
import type { PackedConvWeights } from './types.js';

interface WeightShape {
  groups: number;
  outChannels: number;
  outChannelsPerGroup: number;
  inChannelsPerGroup: number;
  kernelHeight: number;
  kernelWidth: number;
}

const pairOf = (v: Pair | undefined): readonly [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v);

/**
 * Weights per group: floor(coutG / 4) blocks laid out [tap][4 channels], then
 * the remaining channels one by one as [tap] (PyTorch's [Cout, Cin/G, kH, kW]
 * order already lists a channel's taps in tap-table order).
 */
export function packDirectWeights(g: WeightShape, weight: Float32Array, into: Float32Array): void {
  const taps = g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth;
  const coutG = g.outChannelsPerGroup;
  const blocks = coutG >> 2;
  let at = 0;
  for (let group = 0; group < g.groups; group++) {
    const first = group * coutG;
    for (let b = 0; b < blocks; b++) {
      for (let t = 0; t < taps; t++) {
        for (let j = 0; j < 4; j++) into[at++] = weight[(first + b * 4 + j) * taps + t];
      }
    }
    for (let oc = first + blocks * 4; oc < first + coutG; oc++) {
      into.set(weight.subarray(oc * taps, (oc + 1) * taps), at);
      at += taps;
    }
  }
}

/** Floats of Winograd weights: 16 per (output channel, input channel, 3x3 sub-kernel). */
export function winogradWeightFloats(g: Pick<WeightShape, 'outChannels' | 'inChannelsPerGroup' | 'kernelHeight' | 'kernelWidth'>): number {
  const [subH, subW] = subKernels(g.kernelHeight, g.kernelWidth);
  return g.outChannels * g.inChannelsPerGroup * subH * subW * 16;
}

/**
 * Winograd weights U = G g Gt per (output channel, input channel, 3x3
 * sub-kernel), in float64 then rounded once, laid out per group as
 * winograd.ts reads them, K = cinG * subH * subW rows in (channel, sy, sx)
 * order: floor(coutG / 4) blocks of [xi][K][4], then the remaining channels as
 * [xi][K].
 */
export function packWinogradWeights(g: Omit<WeightShape, 'groups'>, weight: Float32Array, into: Float32Array): void {
  const { kernelHeight: kh, kernelWidth: kw } = g;
  const [subH, subW] = subKernels(kh, kw);
  const cinG = g.inChannelsPerGroup;
  const k = cinG * subH * subW;
  const coutG = g.outChannelsPerGroup;
  const blocks = coutG >> 2;
  const u = new Float64Array(16);
  const t = new Float64Array(12);
  for (let oc = 0; oc < g.outChannels; oc++) {
    const group = Math.floor(oc / coutG);
    const j = oc - group * coutG;
    const groupStart = group * coutG * 16 * k;
    for (let q = 0; q < k; q++) {
      const c = Math.floor(q / (subH * subW));
      const sy = Math.floor(q / subW) % subH;
      const sx = q % subW;
      // The sub-kernel's 3x3 taps; zero past the kernel's edge.
      const w = (ky: number, kx: number) => {
        const y = 3 * sy + ky;
        const x = 3 * sx + kx;
        return y < kh && x < kw ? weight[((oc * cinG + c) * kh + y) * kw + x] : 0;
      };
      // G g: rows (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2), down each column.
      for (let kx = 0; kx < 3; kx++) {
        const g0 = w(0, kx), g1 = w(1, kx), g2 = w(2, kx);
        t[kx] = g0;
        t[3 + kx] = (g0 + g1 + g2) / 2;
        t[6 + kx] = (g0 - g1 + g2) / 2;
        t[9 + kx] = g2;
      }
      // (G g) Gt: the same along each row.
      for (let r = 0; r < 4; r++) {
        const g0 = t[r * 3], g1 = t[r * 3 + 1], g2 = t[r * 3 + 2];
        u[r * 4] = g0;
        u[r * 4 + 1] = (g0 + g1 + g2) / 2;
        u[r * 4 + 2] = (g0 - g1 + g2) / 2;
        u[r * 4 + 3] = g2;
      }
      for (let xi = 0; xi < 16; xi++) {
        const at = j < blocks * 4
          ? groupStart + (j >> 2) * 64 * k + (xi * k + q) * 4 + (j & 3)
          : groupStart + blocks * 64 * k + (j - blocks * 4) * 16 * k + xi * k + q;
        into[at] = u[xi];
      }
    }
  }
}

/** Stride and dilation of the layer whose weights are packed (they decide whether it runs Winograd); 1 by default. */
export interface ConvPackOptions {
  stride?: Pair;
  dilation?: Pair;
}

/** Floats packConvWeights allocates for these weights: 0 for the reference kernel (which reads them as they are). */
export function packedConvFloats(weightShape: readonly number[], options: ConvPackOptions = {}): number {
  const [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth] = weightShape;
  const kind = kindFor(inChannelsPerGroup, kernelHeight, kernelWidth, pairOf(options.stride), pairOf(options.dilation));
  if (kind === 'reference') return 0;
  if (kind !== 'winograd') return outChannels * inChannelsPerGroup * kernelHeight * kernelWidth;
  return winogradWeightFloats({ outChannels, inChannelsPerGroup, kernelHeight, kernelWidth });
}

/**
 * Packs a convolution's weights [outChannels, inChannels / groups, kH, kW] for
 * the kernel its shape gets, once, for planConv to share across input shapes:
 * for the direct kernels a reordered copy, for Winograd the transformed
 * weights (16 floats per output channel, input channel and 3x3 sub-kernel instead of kH * kW). Null
 * when that kernel is the reference one, which reads the weights as they are.
 * Allocates in this thread's arena; free with releasePackedWeights.
 */
export function packConvWeights(weightShape: readonly number[], groups: number, weight: Float32Array, options: ConvPackOptions = {}): PackedConvWeights | null {
  const [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth] = weightShape;
  if (weightShape.length !== 4 || weight.length !== outChannels * inChannelsPerGroup * kernelHeight * kernelWidth) {
    throw errors.packedWeightLength(weightShape, weight.length);
  }
  if (!Number.isInteger(groups) || groups <= 0 || outChannels % groups !== 0) {
    throw errors.packedWeightGroups(outChannels, groups);
  }
  const kind = kindFor(inChannelsPerGroup, kernelHeight, kernelWidth, pairOf(options.stride), pairOf(options.dilation));
  if (kind === 'reference') return null;
  const arena = sharedArena();
  const length = packedConvFloats(weightShape, options);
  const byteOffset = arena.allocate(length * 4);
  const g = { groups, outChannels, outChannelsPerGroup: outChannels / groups, inChannelsPerGroup, kernelHeight, kernelWidth };
  const into = new Float32Array(arena.buffer, byteOffset, length);
  if (kind === 'winograd') packWinogradWeights(g, weight, into);
  else packDirectWeights(g, weight, into);
  return { byteOffset, length, kind, weightShape: [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth], groups };
}

/** Frees what packConvWeights allocated, once every plan using it is released. Safe to call twice. */
export function releasePackedWeights(packed: PackedConvWeights): void {
  if (packed.length < 0) return;
  sharedArena().releaseBlock(packed.byteOffset);
  packed.length = -1;
}
