// The kernel layer's switches, in one object: what tests and benchmarks flip
// to reach a path the shape alone would not choose, and what a device worker
// sets to match its host. Read at planning: a plan made keeps what it chose.
import { errors } from '../errors.js';
import { hasWasmRelaxedSimd, type WasmVariant } from './wasm/runtime.js';

export interface KernelOptions {
  /**
   * Fewest input channels per group for which a 3x3 (or 5x5 ...) stride-1
   * layer runs Winograd; null turns Winograd off. Default 32: each tile's
   * input transform is paid once per input channel and shared by the group's
   * output channels, and the product's inner dimension is this count.
   */
  winogradMinChannels: number | null;
  /** Force plane mode on or off for every direct plan; null: chosen by shape (plan/selection.ts). */
  planeMode: boolean | null;
  /** Plan the JavaScript reference kernel even where WebAssembly SIMD runs, as on a runtime without it. */
  forceJs: boolean;
  /**
   * The WebAssembly build new plans use; null: 'fma' where relaxed SIMD is
   * available unless GROUPCONV_WASM=simd (for a whole benchmark process).
   */
  wasmVariant: WasmVariant | null;
  /**
   * Dense 1x1 convolutions through the native kernel where it is built and the
   * CPU can run it (src/kernels/native/): the same bits, faster. Read at each
   * run, not at planning (either kernel serves any plan); false keeps the
   * WebAssembly kernel, to compare the two.
   */
  native: boolean;
}

const DEFAULTS: Readonly<KernelOptions> = { winogradMinChannels: 32, planeMode: null, forceJs: false, wasmVariant: null, native: true };

/** The current switches (read-only: change them with configureKernels). */
export const kernelOptions: Readonly<KernelOptions> = { ...DEFAULTS };

/**
 * Sets some switches (undefined keys are left alone) and returns all of them
 * as they were before, so a caller restores them with
 * `configureKernels(previous)` in a `finally`.
 */
export function configureKernels(changes: Partial<KernelOptions>): KernelOptions {
  const previous = { ...kernelOptions };
  if (changes.wasmVariant === 'fma' && !hasWasmRelaxedSimd()) throw errors.relaxedSimdMissing();
  const options = kernelOptions as KernelOptions;
  for (const key of Object.keys(changes) as (keyof KernelOptions)[]) {
    if (changes[key] !== undefined) (options as unknown as Record<string, unknown>)[key] = changes[key];
  }
  return previous;
}

/** Puts every switch back to its default; returns them as they were. */
export function resetKernelOptions(): KernelOptions {
  return configureKernels(DEFAULTS);
}
