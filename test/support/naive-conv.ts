// An independent oracle for conv2d, written differently from the project's
// reference kernel on purpose: the input is first copied into an explicitly
// zero-padded buffer, then a plain 7-loop convolution runs over it.
import type { Tensor } from '../../src/index.js';

export interface NaiveSpec {
  stride: [number, number];
  dilation: [number, number];
  /** [top, bottom, left, right] */
  padding: [number, number, number, number];
  groups: number;
}

export function naiveConv2d(x: Tensor, w: Tensor, b: Tensor | null, spec: NaiveSpec): Tensor {
  const [N, C, H, W] = x.shape;
  const [M, Cg, R, S] = w.shape;
  const [top, bottom, left, right] = spec.padding;
  const Hp = H + top + bottom;
  const Wp = W + left + right;
  const padded = new Float64Array(N * C * Hp * Wp);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let v = 0; v < W; v++) padded[((n * C + c) * Hp + h + top) * Wp + v + left] = x.data[((n * C + c) * H + h) * W + v];

  const P = Math.floor((Hp - spec.dilation[0] * (R - 1) - 1) / spec.stride[0]) + 1;
  const Q = Math.floor((Wp - spec.dilation[1] * (S - 1) - 1) / spec.stride[1]) + 1;
  const Mg = M / spec.groups;
  const out = new Float32Array(N * M * P * Q);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      for (let p = 0; p < P; p++)
        for (let q = 0; q < Q; q++) {
          let acc = b ? b.data[m] : 0;
          for (let c = 0; c < Cg; c++)
            for (let r = 0; r < R; r++)
              for (let s = 0; s < S; s++) {
                const h = p * spec.stride[0] + r * spec.dilation[0];
                const v = q * spec.stride[1] + s * spec.dilation[1];
                acc += padded[((n * C + g * Cg + c) * Hp + h) * Wp + v] * w.data[((m * Cg + c) * R + r) * S + s];
              }
          out[((n * M + m) * P + p) * Q + q] = acc;
        }
    }
  return { shape: [N, M, P, Q], data: out };
}
