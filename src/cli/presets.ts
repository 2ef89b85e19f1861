// The layers `groupconv bench` knows by name: the convolutions that made
// grouped convolution matter, from AlexNet's two-GPU split to depthwise.
import { convFlops, resolveShapes, type ConvGeometry } from '../conv/geometry.js';
import { errors } from '../errors.js';

/** A convolution layer without weights: enough to build one and count its work. */
export interface LayerPreset {
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
  dilation: number;
  /** The layer's own groups (as the architecture defines it). */
  groups: number;
  /** Input height = width. */
  size: number;
  batch: number;
  /** The groups swept when the user gives no --groups. */
  defaultGroups: number[];
  description: string;
}

const preset = (spec: Omit<LayerPreset, 'dilation' | 'batch'> & Partial<Pick<LayerPreset, 'dilation' | 'batch'>>): LayerPreset => ({
  dilation: 1,
  batch: 8,
  ...spec,
});

// AlexNet's shapes are the 2012 paper's (227x227 input, 96 conv1 filters),
// where conv2, conv4 and conv5 were split across the two GPUs (groups 2).
export const PRESETS: readonly LayerPreset[] = [
  preset({ name: 'alexnet-conv1', inChannels: 3, outChannels: 96, kernel: 11, stride: 4, padding: 0, groups: 1, size: 227, defaultGroups: [1], description: 'AlexNet conv1, 11x11 stride 4 on the 227x227 image' }),
  preset({ name: 'alexnet-conv2', inChannels: 96, outChannels: 256, kernel: 5, stride: 1, padding: 2, groups: 2, size: 27, defaultGroups: [1, 2], description: 'AlexNet conv2, the layer of the two-GPU split' }),
  preset({ name: 'alexnet-conv3', inChannels: 256, outChannels: 384, kernel: 3, stride: 1, padding: 1, groups: 1, size: 13, defaultGroups: [1], description: 'AlexNet conv3, where the two GPUs exchanged activations' }),
  preset({ name: 'alexnet-conv4', inChannels: 384, outChannels: 384, kernel: 3, stride: 1, padding: 1, groups: 2, size: 13, defaultGroups: [1, 2], description: 'AlexNet conv4, split across the two GPUs' }),
  preset({ name: 'alexnet-conv5', inChannels: 384, outChannels: 256, kernel: 3, stride: 1, padding: 1, groups: 2, size: 13, defaultGroups: [1, 2], description: 'AlexNet conv5, split across the two GPUs' }),
  preset({ name: 'resnext-conv', inChannels: 128, outChannels: 128, kernel: 3, stride: 1, padding: 1, groups: 32, size: 56, defaultGroups: [32], description: 'ResNeXt-50 (32x4d) first-stage 3x3, cardinality 32' }),
  preset({ name: 'depthwise', inChannels: 256, outChannels: 256, kernel: 3, stride: 1, padding: 1, groups: 256, size: 28, defaultGroups: [256], description: 'MobileNet-style depthwise 3x3, one group per channel' }),
  preset({ name: 'shufflenet-pw', inChannels: 240, outChannels: 240, kernel: 1, stride: 1, padding: 0, groups: 8, size: 28, defaultGroups: [8], description: 'ShuffleNet grouped 1x1 (g=8)' }),
  preset({ name: 'dense', inChannels: 256, outChannels: 256, kernel: 3, stride: 1, padding: 1, groups: 1, size: 28, defaultGroups: [1], description: 'an ordinary dense 3x3, for comparison' }),
];

export const PRESET_NAMES: readonly string[] = PRESETS.map((p) => p.name);

export function findPreset(name: string): LayerPreset | undefined {
  return PRESETS.find((p) => p.name === name);
}

export function inputShape(layer: LayerPreset, batch: number): number[] {
  return [batch, layer.inChannels, layer.size, layer.size];
}

export function weightShape(layer: LayerPreset, groups: number): number[] {
  return [layer.outChannels, layer.inChannels / groups, layer.kernel, layer.kernel];
}

export function convOptions(layer: LayerPreset, groups: number) {
  return { stride: layer.stride, padding: layer.padding, dilation: layer.dilation, groups };
}

/**
 * The geometry of `layer` at `groups` and `batch`, checked exactly as conv2d
 * checks it; throws the conv2d ArgumentError (e.g. channels not divisible by
 * groups) when that combination is impossible.
 */
export function layerGeometry(layer: LayerPreset, groups: number, batch: number): ConvGeometry {
  if (!Number.isInteger(groups) || groups <= 0) throw errors.notPositiveInteger('groups', groups);
  if (layer.inChannels % groups !== 0) {
    throw errors.presetChannelsNotDivisible('input', layer.inChannels, groups);
  }
  if (layer.outChannels % groups !== 0) {
    throw errors.presetChannelsNotDivisible('output', layer.outChannels, groups);
  }
  return resolveShapes(inputShape(layer, batch), weightShape(layer, groups), null, convOptions(layer, groups)).geometry;
}

/** FLOPs (2 x multiply-accumulates) of one call on a batch. */
export function layerFlops(layer: LayerPreset, groups: number, batch: number): number {
  return convFlops(layerGeometry(layer, groups, batch));
}

/** One line naming the layer's shape, e.g. "96 -> 256, 5x5, pad 2, 27x27 -> 27x27". */
export function describeLayer(layer: LayerPreset): string {
  const g = layerGeometry(layer, 1, 1);
  const parts = [`${layer.inChannels} -> ${layer.outChannels}`, `${layer.kernel}x${layer.kernel}`];
  if (layer.stride !== 1) parts.push(`stride ${layer.stride}`);
  if (layer.padding !== 0) parts.push(`pad ${layer.padding}`);
  if (layer.dilation !== 1) parts.push(`dilation ${layer.dilation}`);
  parts.push(`${layer.size}x${layer.size} -> ${g.outHeight}x${g.outWidth}`);
  return parts.join(', ');
}
