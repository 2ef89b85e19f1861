// Kernel plans: choose the microkernel once per layer (selection), lay out
// its input and scratch (layout), pack its weights (packing), make and free
// the plan (lifetime), run it on a slice (run).
export type { KernelKind, KernelPlan, Microkernel, PackedConvWeights, WasmLayout } from './types.js';
export { convKernelKind, epilogueFusesExp, nativeDirectConvolutions, preferredWasmVariant, wasmKernelsAvailable } from './selection.js';
export { convScratchFloats, planScratchFloats, readsInputInPlace } from './layout.js';
export { packConvWeights, packedConvFloats, releasePackedWeights, type ConvPackOptions } from './packing.js';
export { planConv, releasePlan } from './lifetime.js';
export { nativeKernelOf, runPlan, runsOnNativePointwise, type InputScale, type NativeKind } from './run.js';
