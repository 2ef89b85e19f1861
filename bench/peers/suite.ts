// The layer suite of issue #7 (batch 8, float32): the shapes where peers are
// strong (dense, groups=2) and where they collapse (small groups, depthwise).
// bench:peers runs it on groupconv and its peers; bench/engine-ab.ts runs it on
// two checkouts of groupconv (alexnet_conv2_g2 is also bench:engine's layer).
export interface SuiteLayer {
  name: string;
  input: [number, number, number, number];
  weight: [number, number, number, number];
  /** Conv2dOptions, with square strides and paddings as plain numbers (what the peers take). */
  options: { stride: number; padding: number; groups: number };
}

const BATCH = 8;

function layer(name: string, cin: number, cout: number, k: number, size: number, stride: number, padding: number, groups: number): SuiteLayer {
  return { name, input: [BATCH, cin, size, size], weight: [cout, cin / groups, k, k], options: { stride, padding, groups } };
}

export const SUITE: SuiteLayer[] = [
  layer('alexnet_conv1', 3, 96, 11, 224, 4, 2, 1),
  layer('alexnet_conv2_g2', 96, 256, 5, 27, 1, 2, 2),
  layer('alexnet_conv2_g1', 96, 256, 5, 27, 1, 2, 1),
  layer('alexnet_conv4_g2', 384, 384, 3, 13, 1, 1, 2),
  layer('resnext_conv_g32', 128, 128, 3, 56, 1, 1, 32),
  layer('depthwise_3x3', 256, 256, 3, 28, 1, 1, 256),
  layer('shufflenet_pw_g8', 240, 240, 1, 28, 1, 0, 8),
  layer('dense_3x3', 256, 256, 3, 28, 1, 1, 1),
];

/** The layers whose names contain one of the comma-separated parts of `filter` (all for ''). */
export function suiteLayers(filter: string): SuiteLayer[] {
  return SUITE.filter((l) => !filter || filter.split(',').some((part) => l.name.includes(part)));
}

/** [N, Cout, Ho, Wo] of a layer's output. */
export function outputShape(l: SuiteLayer): [number, number, number, number] {
  const [n, , h, w] = l.input;
  const [cout, , kh, kw] = l.weight;
  const { stride, padding } = l.options;
  return [n, cout, Math.floor((h + 2 * padding - kh) / stride) + 1, Math.floor((w + 2 * padding - kw) / stride) + 1];
}

/** FLOPs of a layer, 2 x multiply-accumulates (bias adds not counted), as convFlops. */
export function layerFlops(l: SuiteLayer): number {
  const [n, cout, ho, wo] = outputShape(l);
  const [, cinG, kh, kw] = l.weight;
  return 2 * n * cout * ho * wo * cinG * kh * kw;
}
