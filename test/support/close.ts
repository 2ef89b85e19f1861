// Closeness to PyTorch's float32 results: |a - b| <= atol + rtol * |b|, NaNs and infinities equal.
import { expect } from 'vitest';

export function expectClose(actual: Float32Array, expected: Float32Array, atol = 1e-5, rtol = 1e-5, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(b) ? Number.isNaN(a) : a === b) continue;
    const excess = Math.abs(a - b) - (atol + rtol * Math.abs(b));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  expect(worst < 0 ? null : `${what}[${worst}] = ${actual[worst]}, PyTorch ${expected[worst]}`).toBeNull();
}
