// The order in which groupconv sums a mean's elements (GlobalAveragePool,
// ReduceMean over the spatial axes, adaptiveAvgPool2d), the same on every
// path so that they give the same bits: MEAN_LANES running sums in double
// precision, sum j over the elements k = j (mod MEAN_LANES) of the window in
// order (k counts the window's elements, row by row), each from +0; then the
// sums added as a tree, j and j + 8, then j and j + 4, j and j + 2, and the
// last two (laneTotal); then divided once by the element count and rounded to
// float32 (where the result is stored).
//
// Why lanes: that is a plane's own consecutive floats in a vector's lanes,
// one load and two conversions per 16 floats in the native kernels
// (native/kernels.h, globalAverage). Summed from first element to last, each
// plane was one chain of dependent adds, and the kernels had to transpose 16
// planes into lanes to keep chains in flight: efficientnet_b0's squeezes ran
// at 2-6 G floats/s (docs/benchmarks.md). Either order is exact to within a
// double's rounding of float32 inputs; PyTorch's own (a float cascade) is
// another still, which the tests' tolerances cover.

/** Running sums a mean keeps: a 16-float vector's lanes. */
export const MEAN_LANES = 16;

/** The tree sum of `sums` (MEAN_LANES of them): j and j + 8, then j and j + 4, j and j + 2, then the last two. */
export function laneTotal(sums: Float64Array): number {
  const t0 = sums[0] + sums[8] + (sums[4] + sums[12]);
  const t1 = sums[1] + sums[9] + (sums[5] + sums[13]);
  const t2 = sums[2] + sums[10] + (sums[6] + sums[14]);
  const t3 = sums[3] + sums[11] + (sums[7] + sums[15]);
  return t0 + t2 + (t1 + t3);
}

const sums = new Float64Array(MEAN_LANES);

/** The mean of x[from, from + count) in the lane order (a double: the caller's store rounds it). */
export function planeMean(x: Float32Array, from: number, count: number): number {
  sums.fill(0);
  const end = from + count;
  let i = from;
  for (; i + MEAN_LANES <= end; i += MEAN_LANES) for (let j = 0; j < MEAN_LANES; j++) sums[j] += x[i + j];
  for (let j = 0; i < end; i++, j++) sums[j] += x[i];
  return laneTotal(sums) / count;
}

/**
 * Sums elements one at a time in the lane order, for windows that are not one run of memory
 * (adaptiveAvgPool2d's): reset(), add() each element in the window's order, then mean().
 */
export class LaneMean {
  private readonly sums = new Float64Array(MEAN_LANES);
  private count = 0;

  reset(): void {
    this.sums.fill(0);
    this.count = 0;
  }

  add(v: number): void {
    this.sums[this.count++ % MEAN_LANES] += v;
  }

  mean(): number {
    return laneTotal(this.sums) / this.count;
  }
}
