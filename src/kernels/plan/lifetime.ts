// A plan's lifetime: planConv makes it (choosing the kernel, packing weights
// unless they come packed, writing the parameter block and tap table into the
// arena), releasePlan frees what it made.
//
// Arena blocks a WebAssembly plan owns, so its memory stays predictable:
// - with its own packing, one block: the packed weights, then the parameter
//   block, then (direct kernels) the tap table;
// - with shared packing (packConvWeights), one block: the parameter block,
//   then (direct kernels) the tap table.
import type { ConvGeometry } from '../../conv/geometry.js';
import { errors } from '../../errors.js';
import { sharedArena } from '../../memory/arena.js';
import { NO_ACTIVATION, type Activation } from '../epilogue.js';
import { layoutOf } from './layout.js';
import { packDirectWeights, packWinogradWeights, winogradWeightFloats } from './packing.js';
import { PARAM_BLOCK_BYTES, writeParamBlock } from './parameters.js';
import { chooseMicrokernel, convKernelKind } from './selection.js';
import type { KernelKind, KernelPlan, PackedConvWeights } from './types.js';

/**
 * Lays out the plan's own block from `byteOffset` on: `weightFloats` floats
 * of weights (already there, or none), the parameter block, the tap table.
 */
function wasmPlan(
  kind: Exclude<KernelKind, 'reference'>,
  geometry: ConvGeometry,
  packed: { byteOffset: number; length: number },
  blockByteOffset: number,
  sharedPacking: boolean,
  activation: Activation,
): KernelPlan {
  const { layout, taps } = layoutOf(geometry);
  const buffer = sharedArena().buffer;
  const paramsByteOffset = blockByteOffset;
  const tapsByteOffset = kind === 'winograd' ? 0 : paramsByteOffset + PARAM_BLOCK_BYTES;
  if (tapsByteOffset) new Int32Array(buffer, tapsByteOffset, layout.tapCount).set(taps);
  writeParamBlock(buffer, paramsByteOffset, geometry, layout, packed.byteOffset, tapsByteOffset, activation);
  const microkernel = chooseMicrokernel(kind, geometry, layout);
  const plan: KernelPlan = { kind, microkernel, geometry, packed, wasm: { ...layout, paramsByteOffset, tapsByteOffset } };
  if (sharedPacking) plan.sharedPacking = true;
  if (activation.kind !== 'none') plan.activation = activation;
  return plan;
}

/** Bytes of a plan's own parameter block and tap table. */
const planBlockBytes = (kind: KernelKind, geometry: ConvGeometry) =>
  PARAM_BLOCK_BYTES + (kind === 'winograd' ? 0 : 4 * geometry.inChannelsPerGroup * geometry.kernelHeight * geometry.kernelWidth);

function planWithPacked(geometry: ConvGeometry, packed: PackedConvWeights, activation: Activation): KernelPlan {
  const g = geometry;
  const [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth] = packed.weightShape;
  if (packed.length < 0) throw errors.packedWeightsReleased();
  if (
    outChannels !== g.outChannels ||
    inChannelsPerGroup !== g.inChannelsPerGroup ||
    kernelHeight !== g.kernelHeight ||
    kernelWidth !== g.kernelWidth ||
    packed.groups !== g.groups ||
    packed.kind !== convKernelKind(g)
  ) {
    throw errors.packedWeightsMismatch(packed.weightShape, packed.groups, packed.kind);
  }
  const blockByteOffset = sharedArena().allocate(planBlockBytes(packed.kind, g));
  return wasmPlan(packed.kind, geometry, { byteOffset: packed.byteOffset, length: packed.length }, blockByteOffset, true, activation);
}

/**
 * Chooses a kernel for the geometry and packs its weights (on a thread whose
 * arena allocates). With `packed` (from packConvWeights for this layer) the
 * plan reuses those weights and allocates only its parameter block and tap
 * table; `weight` is then read by nothing and may be empty. `activation`
 * (checked: epilogue.ts checkActivation) is the epilogue's, fixed with the plan.
 */
export function planConv(geometry: ConvGeometry, weight: Float32Array, packed?: PackedConvWeights | null, activation: Activation = NO_ACTIVATION): KernelPlan {
  const kind = convKernelKind(geometry);
  if (kind === 'reference') {
    const plan: KernelPlan = { kind, microkernel: 'reference', geometry, packed: null, wasm: null };
    if (activation.kind !== 'none') plan.activation = activation;
    return plan;
  }
  if (packed) return planWithPacked(geometry, packed, activation);
  const arena = sharedArena();
  const weightFloats = kind === 'winograd' ? winogradWeightFloats(geometry) : geometry.outChannels * geometry.inChannelsPerGroup * geometry.kernelHeight * geometry.kernelWidth;
  const byteOffset = arena.allocate(weightFloats * 4 + planBlockBytes(kind, geometry));
  const into = new Float32Array(arena.buffer, byteOffset, weightFloats);
  if (kind === 'winograd') packWinogradWeights(geometry, weight, into);
  else packDirectWeights(geometry, weight, into);
  return wasmPlan(kind, geometry, { byteOffset, length: weightFloats }, byteOffset + weightFloats * 4, false, activation);
}

/**
 * Frees what planConv allocated: its one block (with the weights unless they
 * were shared). Safe to call twice.
 */
export function releasePlan(plan: KernelPlan): void {
  if (!plan.packed) return;
  sharedArena().releaseBlock(plan.sharedPacking ? plan.wasm!.paramsByteOffset : plan.packed.byteOffset);
  plan.packed = null;
  plan.wasm = null;
}
