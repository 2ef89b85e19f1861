import type { ConvGeometry, ConvSlice } from '../conv/geometry.js';

/**
 * A convolution kernel computes one slice of the output. `input`, `weight`,
 * `bias` and `output` are whole tensors in NCHW / [Cout, Cin/G, kH, kW] order
 * (element 0 of each array is element 0 of the tensor). It overwrites every
 * output element of the slice and touches nothing else, so kernels on disjoint
 * slices can run at once on one shared output.
 */
export type ConvKernel = (
  g: ConvGeometry,
  input: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  output: Float32Array,
  slice: ConvSlice,
) => void;
