// One device's part of one layer, given the input channels it needs. The
// device workers run exactly this; so can the host, in tests. Every output
// element is computed by the same code, with the same summation order, as in
// the undivided layer, so the split does not change a single bit.
import { fullSlice, outputShapeOf, resolveShapes, type ConvGeometry } from '../conv/geometry.js';
import { runPlan, type KernelPlan } from '../kernels/plan.js';
import { relu } from '../ops/activation.js';
import { linear } from '../ops/linear.js';
import { localResponseNormChannels } from '../ops/normalization.js';
import { maxPool2d } from '../ops/pooling.js';
import { rangeLength, type Activation } from './activation.js';
import type { DevicePiece } from './partition.js';

/** Geometry of a device's convolution: its input channels, its rows of the weight, the groups those rows span. */
export function pieceGeometry(piece: DevicePiece, inputShape: readonly number[]): ConvGeometry {
  if (piece.op.kind !== 'conv' || !piece.weight) throw new Error(`${piece.name} is not a convolution`);
  const [N, , H, W] = inputShape;
  const local = [N, rangeLength(piece.needs), H, W];
  const { stride, padding, groups } = piece.op;
  return resolveShapes(local, piece.weight.shape, piece.bias?.shape ?? null, { stride, padding, groups }).geometry;
}

/**
 * Computes `piece.produces` of the layer's output from `input`, which holds
 * exactly `piece.needs` of the layer's input. Convolutions run through the
 * kernel plan made for this piece on the host.
 */
export function runPiece(piece: DevicePiece, input: Activation, plan: KernelPlan | null, scratch: Float32Array | null): Activation {
  const x = { shape: input.shape, data: input.data };
  const start = piece.produces[0];
  switch (piece.op.kind) {
    case 'conv': {
      if (!plan) throw new Error(`${piece.name}: no kernel plan for this input shape`);
      const g = plan.geometry;
      const shape = outputShapeOf({ geometry: g, unbatched: false });
      if (g.batch !== x.shape[0] || g.inChannels !== x.shape[1] || g.inHeight !== x.shape[2] || g.inWidth !== x.shape[3]) {
        throw new Error(`${piece.name}: kernel plan is for input [${g.batch}, ${g.inChannels}, ${g.inHeight}, ${g.inWidth}], got [${x.shape}]`);
      }
      const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
      runPlan(plan, x.data, piece.weight!.data, piece.bias?.data ?? null, out, fullSlice(g), scratch);
      return { shape, data: out, start };
    }
    case 'linear':
      return { ...linear(x, piece.weight!, piece.bias), start };
    case 'relu':
      return { ...relu(x), start };
    case 'dropout':
      return input;
    case 'lrn': {
      const { size, alpha, beta, k } = piece.op;
      const channels = rangeLength(piece.produces);
      const shape = [x.shape[0], channels, ...x.shape.slice(2)];
      const out = { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
      // Channel indices are local to the received window; the window covers the
      // whole tensor's neighbours of every produced channel, so clamping at its
      // edges is clamping at the tensor's edges.
      localResponseNormChannels(x, { size, alpha, beta, k }, piece.produces[0] - piece.needs[0], piece.produces[1] - piece.needs[0], out, 0);
      return { ...out, start };
    }
    case 'maxpool':
      return { ...maxPool2d(x, piece.op.options), start };
    case 'flatten': {
      const [N, ...rest] = x.shape;
      return { shape: [N, rest.reduce((a, b) => a * b, 1)], data: x.data, start };
    }
  }
}
