// One device's part of one layer, given the input channels it needs. The
// device workers run exactly this; so can the host, in tests. Every output
// element is computed by the same code, with the same summation order, as in
// the undivided layer, so the split does not change a single bit: the
// convolution kernel is chosen by the weight's shape per group (the same for a
// device's rows as for the whole layer), and it sums each element's taps in
// tap-table order whatever output channels it computes alongside.
import { fullSlice, outputShapeOf } from '../conv/geometry.js';
import { runPlan, type KernelPlan } from '../kernels/plan/index.js';
import { relu } from '../ops/relu.js';
import { linear } from '../ops/linear.js';
import { localResponseNormChannels } from '../ops/normalization.js';
import { maxPool2d } from '../ops/pooling.js';
import { rangeLength, type Activation } from './channel-range.js';
import type { DevicePiece } from './split-plan.js';
import { errors } from '../errors.js';

export { pieceGeometry } from './split-plan.js';

/** The piece's output: [N, outputs it produces, ...spatial] of the layer's whole output shape. */
export function pieceOutputShape(piece: DevicePiece, layerOutputShape: readonly number[]): number[] {
  return [layerOutputShape[0], rangeLength(piece.produces), ...layerOutputShape.slice(2)];
}

/** Whether the piece's output is its input, relabelled (no memory of its own). */
export function aliasesInput(piece: DevicePiece): boolean {
  return piece.op.kind === 'dropout' || piece.op.kind === 'flatten';
}

/**
 * Whether the piece can write its output over its input: an elementwise layer
 * (ReLU), each value read once before it is written, the input not read after.
 * A device runs it there, rather than through a second buffer of the same size.
 */
export function writesOverInput(piece: DevicePiece): boolean {
  return piece.op.kind === 'relu';
}

/**
 * Whether the piece's kernel computes each image on its own (the output of
 * image n depends only on image n, whatever images are computed beside it),
 * so it can run image by image into a wider layout: ReLU and max pooling, the
 * layers that end a run of AlexNet's layers before an exchange.
 */
export function runsImageByImage(piece: DevicePiece): boolean {
  return piece.op.kind === 'relu' || piece.op.kind === 'maxpool';
}

/**
 * runPiece image by image (runsImageByImage pieces only), each image's output
 * written into `into` as channels [offset, offset + produced) of a tensor of
 * `channels` channels of `outPlane` values: the next layer's input laid out
 * with room for the pieces the device receives beside its own. The same
 * kernels over the same values, so the same bits as one call.
 */
export function runPieceInto(piece: DevicePiece, input: Activation, into: Float32Array, channels: number, offset: number, outPlane: number): void {
  if (!runsImageByImage(piece)) throw errors.deviceProtocol(`${piece.name}: a ${piece.op.kind} layer does not run image by image`);
  const [N, C, ...spatial] = input.shape;
  const produced = rangeLength(piece.produces);
  if (into.length !== N * channels * outPlane || offset < 0 || offset + produced > channels) {
    throw errors.deviceProtocol(`${piece.name}: cannot place ${produced} channels at ${offset} of ${channels} in ${into.length} values`);
  }
  const inImage = input.data.length / N;
  for (let n = 0; n < N; n++) {
    const image = { shape: [1, C, ...spatial], data: input.data.subarray(n * inImage, (n + 1) * inImage), start: input.start };
    const at = (n * channels + offset) * outPlane;
    runPiece(piece, image, null, null, into.subarray(at, at + produced * outPlane));
  }
}

/**
 * Computes `piece.produces` of the layer's output from `input`, which holds
 * exactly `piece.needs` of the layer's input, into `out` (pieceOutputShape's
 * size; a new array when null; ignored for the layers that alias their input).
 * Convolutions run through `plan`, made for this piece and input shape, with
 * `scratch` of planScratchFloats floats.
 */
export function runPiece(
  piece: DevicePiece,
  input: Activation,
  plan: KernelPlan | null,
  scratch: Float32Array | null,
  out: Float32Array | null = null,
): Activation {
  const x = { shape: input.shape, data: input.data };
  const start = piece.produces[0];
  const into = out ?? undefined;
  switch (piece.op.kind) {
    case 'conv': {
      if (!plan) throw errors.deviceProtocol(`${piece.name}: no kernel plan for this input shape`);
      const g = plan.geometry;
      const shape = outputShapeOf({ geometry: g, unbatched: false });
      if (g.batch !== x.shape[0] || g.inChannels !== x.shape[1] || g.inHeight !== x.shape[2] || g.inWidth !== x.shape[3]) {
        throw errors.deviceProtocol(`${piece.name}: kernel plan is for input [${g.batch}, ${g.inChannels}, ${g.inHeight}, ${g.inWidth}], got [${x.shape}]`);
      }
      const size = shape.reduce((a, b) => a * b, 1);
      if (out && out.length !== size) throw errors.deviceProtocol(`${piece.name}: output buffer holds ${out.length} values, not ${size}`);
      const data = out ?? new Float32Array(size);
      runPlan(plan, x.data, piece.weight!.data, piece.bias?.data ?? null, data, fullSlice(g), scratch);
      return { shape, data, start };
    }
    case 'linear':
      return { ...linear(x, piece.weight!, piece.bias, into), start };
    case 'relu':
      return { ...relu(x, into), start };
    case 'dropout':
      return input;
    case 'lrn': {
      const { size, alpha, beta, k } = piece.op;
      const channels = rangeLength(piece.produces);
      const shape = [x.shape[0], channels, ...x.shape.slice(2)];
      const length = shape.reduce((a, b) => a * b, 1);
      if (out && out.length !== length) throw errors.deviceProtocol(`${piece.name}: output buffer holds ${out.length} values, not ${length}`);
      const result = { shape, data: out ?? new Float32Array(length) };
      // Channel indices are local to the received window; the window covers the
      // whole tensor's neighbours of every produced channel, so clamping at its
      // edges is clamping at the tensor's edges.
      localResponseNormChannels(x, { size, alpha, beta, k }, piece.produces[0] - piece.needs[0], piece.produces[1] - piece.needs[0], result, 0);
      return { ...result, start };
    }
    case 'maxpool':
      return { ...maxPool2d(x, piece.op.options, into), start };
    case 'flatten': {
      const [N, ...rest] = x.shape;
      return { shape: [N, rest.reduce((a, b) => a * b, 1)], data: x.data, start };
    }
  }
}
