// How the direct kernels see a layer's input: phase planes, the tap table into
// them, the tap table's pattern, and the scratch a task needs.
import type { ConvGeometry } from '../../conv/geometry.js';
import { choosePlaneMode, convKernelKind, PLANE_SLACK, preferredWasmVariant, subKernels } from './selection.js';
import type { KernelPlan, PlannedLayout } from './types.js';

type TapGrid = Pick<PlannedLayout, 'tapCount' | 'planeHeight' | 'planeWidth' | 'channelStride'>;

/** Stride 1 and no padding: the WebAssembly kernels read the input as it is, copying nothing (else each group's planes per image). */
export function readsInputInPlace(g: ConvGeometry): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.padTop + g.padBottom + g.padLeft + g.padRight === 0;
}

/** A layer's phase-plane layout and its tap table (byte offsets, not yet in the arena). */
export function layoutOf(g: ConvGeometry): { layout: PlannedLayout; taps: Int32Array } {
  const directInput = readsInputInPlace(g);
  const paddedH = g.inHeight + g.padTop + g.padBottom;
  const paddedW = g.inWidth + g.padLeft + g.padRight;
  const planeHeight = Math.ceil(paddedH / g.strideH);
  const planeWidth = Math.ceil(paddedW / g.strideW);
  const channelStride = directInput ? g.inHeight * g.inWidth : g.strideH * g.strideW * planeHeight * planeWidth;
  const grid: TapGrid = { tapCount: g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth, planeHeight, planeWidth, channelStride };
  const taps = tapOffsets(g, grid);
  const layout: PlannedLayout = {
    ...grid,
    directInput,
    positions: (g.outHeight - 1) * planeWidth + g.outWidth,
    planeMode: choosePlaneMode(g, planeWidth),
    variant: preferredWasmVariant(),
    tapStep: uniformTapStep(taps),
    threeRuns: taps.length === 9 && [0, 3, 6].every((t) => taps[t + 1] === taps[t] + 4 && taps[t + 2] === taps[t] + 8),
  };
  return { layout, taps };
}

/** The byte step between consecutive taps when it is the same (and positive) for all, else 0. */
function uniformTapStep(taps: Int32Array): number {
  if (taps.length < 2) return 0;
  const step = taps[1] - taps[0];
  if (step <= 0) return 0;
  for (let t = 2; t < taps.length; t++) if (taps[t] - taps[t - 1] !== step) return 0;
  return step;
}

/**
 * Tap t = (ic, ky, kx) reads padded input (oy*sH + ky*dH, ox*sW + kx*dW). With
 * ky*dH = qy*sH + ry, that is row oy + qy of phase ry (columns alike), so the
 * tap is a fixed offset from output position oy * planeWidth + ox.
 */
function tapOffsets(g: ConvGeometry, layout: TapGrid): Int32Array {
  const taps = new Int32Array(layout.tapCount);
  const phaseFloats = layout.planeHeight * layout.planeWidth;
  let t = 0;
  for (let ic = 0; ic < g.inChannelsPerGroup; ic++) {
    for (let ky = 0; ky < g.kernelHeight; ky++) {
      const ry = (ky * g.dilationH) % g.strideH;
      const qy = Math.floor((ky * g.dilationH) / g.strideH);
      for (let kx = 0; kx < g.kernelWidth; kx++) {
        const rx = (kx * g.dilationW) % g.strideW;
        const qx = Math.floor((kx * g.dilationW) / g.strideW);
        const offset = ic * layout.channelStride + (ry * g.strideW + rx) * phaseFloats + qy * layout.planeWidth + qx;
        taps[t++] = offset * 4;
      }
    }
  }
  return taps;
}

/** Tiles per chunk in winograd.ts (TILES). */
const WINOGRAD_TILES = 16;

/** Floats of scratch for winograd.ts: the padded group input, V and M. */
function winogradScratchFloats(g: ConvGeometry): number {
  const tilesH = Math.ceil(g.outHeight / 2);
  const tilesW = Math.ceil(g.outWidth / 2);
  const [subH, subW] = subKernels(g.kernelHeight, g.kernelWidth);
  const xiFloats = g.inChannelsPerGroup * subH * subW * WINOGRAD_TILES + 16;
  return g.inChannelsPerGroup * (2 * tilesH + 3 * subH - 1) * (2 * tilesW + 3 * subW - 1) + 16 * xiFloats + 16 * 4 * WINOGRAD_TILES;
}

function directScratchFloats(g: ConvGeometry, layout: PlannedLayout): number {
  // The phase planes, PLANE_SLACK floats, then in plane mode 4 channels of
  // plane-layout rows when they need copying out. The in-place depthwise 3x3
  // microkernel puts its zero row, spare row and 32-float window in the
  // planes' place, and is chosen only where they fit: shrinking this would
  // send more planes back to the padded copy.
  const copied = layout.planeMode && layout.planeWidth !== g.outWidth ? 4 * layout.positions : 0;
  return g.inChannelsPerGroup * layout.channelStride + PLANE_SLACK + copied;
}

/** Floats of scratch memory one task needs, whatever its slice (allocated by the main thread per task). */
export function planScratchFloats(plan: KernelPlan): number {
  if (plan.kind === 'winograd') return winogradScratchFloats(plan.geometry);
  return plan.wasm ? directScratchFloats(plan.geometry, plan.wasm) : 0;
}

/**
 * What planScratchFloats will say for the plan planConv would make for this
 * geometry, without making it (for memory budgets worked out in advance).
 */
export function convScratchFloats(geometry: ConvGeometry): number {
  const kind = convKernelKind(geometry);
  if (kind === 'winograd') return winogradScratchFloats(geometry);
  return kind === 'reference' ? 0 : directScratchFloats(geometry, layoutOf(geometry).layout);
}
