#!/usr/bin/env python3
"""The coefficients of the epilogue's float32 exp (src/kernels/wasm/exp-constants.ts).

exp(r) ~ 1 + r + r^2 (1/2 + c3 r + c4 r^2 + c5 r^3 + c6 r^4) on |r| <= ln(2) / 2,
c3..c6 chosen to minimise the largest relative error of the whole
approximation, (p(r) - e^r) / e^r, by Lawson's iteratively reweighted least
squares on a dense grid (it converges to the minimax fit), then rounded to
float32. The constant term of P stays 1/2, exact, so that p(r) is 1 + r +
r^2 / 2 + O(r^3) and small r lose nothing to its rounding.

    python3 scripts/fit-exp-polynomial.py

Needs only numpy; prints each coefficient as the float32 it rounds to (the
exact decimal that exp-constants.ts holds) and the fit's largest relative
error, before and after rounding. The exhaustive error of the float32 exp
built on them is checked by scripts/exp-accuracy.ts.
"""
import numpy as np

HALF_LN2 = np.log(2) / 2
r = np.linspace(-HALF_LN2, HALF_LN2, 20001)
r = r[np.abs(r) > 1e-6]  # (e^r - 1 - r) / r^2 loses its digits near 0; the weight r^2 makes those points count for nothing anyway
# p(r) - e^r = r^2 (P(r) - f(r)), f(r) = (e^r - 1 - r) / r^2; relative to e^r.
f = (np.expm1(r) - r) / r**2
weight = r**2 / np.exp(r)
powers = np.stack([r**k for k in range(1, 5)], axis=1)  # c3 r + c4 r^2 + c5 r^3 + c6 r^4
target = f - 0.5

lawson = np.ones_like(r)
for _ in range(300):
    w = weight * np.sqrt(lawson)
    coefficients, *_ = np.linalg.lstsq(powers * w[:, None], target * w, rcond=None)
    error = np.abs((powers @ coefficients - target) * weight)
    lawson *= error
    lawson /= lawson.sum()

rounded = coefficients.astype(np.float32).astype(np.float64)
for name, c in zip(('EXP_C3', 'EXP_C4', 'EXP_C5', 'EXP_C6'), rounded):
    print(f"export const {name} = {float(c)!r};")
exact = np.max(np.abs((powers @ coefficients - target) * weight))
after = np.max(np.abs((powers @ rounded - target) * weight))
print(f'// largest relative error of the polynomial: {exact:.3g} as fitted, {after:.3g} with float32 coefficients (2^-24 = {2**-24:.3g})')
