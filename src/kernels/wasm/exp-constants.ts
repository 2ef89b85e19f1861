// The constants of the epilogue's float32 exp (../exp.ts for the JavaScript
// reference, assembly/exp.ts for the WebAssembly SIMD one). Imported by both
// sides, like param-block.ts, so they hold only plain numbers: each is written
// as the exact value of a float32, so converting it to f32 in AssemblyScript
// and Math.fround in JavaScript give the same bits.

/** Inputs are clamped to [EXP_MIN_INPUT, EXP_MAX_INPUT]: exp(-104) rounds to 0 and exp(89) overflows to +Infinity, so no result changes, and k stays in [-150, 128]. */
export const EXP_MIN_INPUT = -104;
export const EXP_MAX_INPUT = 89;

/** log2(e) rounded to float32: k = round(x * log2(e)). */
export const EXP_LOG2E = 1.4426950216293335;

/** 1.5 * 2^23: t + it - it rounds t to the nearest integer, ties to even, for |t| < 2^22; its bits minus EXP_ROUNDER_BITS are that integer. */
export const EXP_ROUNDER = 12582912;
export const EXP_ROUNDER_BITS = 0x4b400000;

/** Cody-Waite: ln 2 = EXP_LN2_HIGH + EXP_LN2_LOW, the high part with 9 significant bits, so k * EXP_LN2_HIGH is exact for |k| <= 150. */
export const EXP_LN2_HIGH = 0.693359375;
export const EXP_LN2_LOW = -0.00021219444170128554;

/**
 * exp(r) ~ 1 + r + r^2 (EXP_C2 + EXP_C3 r + EXP_C4 r^2 + EXP_C5 r^3 + EXP_C6 r^4)
 * on |r| <= ln(2) / 2: a minimax fit of the relative error with EXP_C2 held
 * at 1/2 (scripts/fit-exp-polynomial.py), each coefficient rounded to
 * float32. The polynomial's own relative error is at most 3.8e-9 (0.06 of
 * 2^-24); the rest of exp's error is rounding.
 */
export const EXP_C2 = 0.5;
export const EXP_C3 = 0.16666534543037415;
export const EXP_C4 = 0.041667237877845764;
export const EXP_C5 = 0.008367475122213364;
export const EXP_C6 = 0.0013863772619515657;

/**
 * The sigmoid's exp(-x) (assembly/exp.ts, expNegatedForSigmoid4) takes its short path when
 * every lane's exp input -x is at most EXP_SIGMOID_FAST_MAX (so k <= 127) and clamps that input
 * below at EXP_SIGMOID_MIN_INPUT (so k >= -124): there 2^k is added to p's exponent bits,
 * exactly. Below -86, exp is under 2^-24 whichever input, so 1 + exp(-x) is 1 either way.
 */
export const EXP_SIGMOID_FAST_MAX = 88;
export const EXP_SIGMOID_MIN_INPUT = -86;
