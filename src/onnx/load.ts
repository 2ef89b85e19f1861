// loadOnnx: bytes or a path to an OnnxModel. Everything that can be wrong with
// a file is found here, before anything runs: it is not ONNX, it is cut off or
// corrupted, it uses an operator, attribute or data type groupconv does not run.
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { errors } from '../errors.js';
import { buildGraph } from './graph.js';
import { OnnxModel } from './model.js';
import { MAX_OPSET, MIN_OPSET, prepareKernel } from './ops/index.js';
import { decodeModel, toNumber } from './proto.js';
import type { LoadContext } from './tensor-proto.js';

/**
 * Loads an ONNX model: a path to a .onnx file (external data is read relative
 * to it), or the file's bytes. Synchronous: the files are small next to the
 * work of running them, and a caller gets either a model or an OnnxError.
 */
export function loadOnnx(source: string | Uint8Array): OnnxModel {
  let bytes: Uint8Array;
  let ctx: LoadContext;
  if (typeof source === 'string') {
    const path = resolve(source);
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw errors.onnxInvalid(basename(path), `cannot read ${path} (${(e as Error).message})`);
    }
    ctx = { source: basename(path), directory: dirname(path) };
  } else if (source instanceof Uint8Array) {
    bytes = source;
    ctx = { source: 'ONNX bytes', directory: null };
  } else {
    throw errors.invalid('source', `expected a path or a Uint8Array, got ${source === null ? 'null' : typeof source}`);
  }

  const proto = decodeModel(bytes, ctx.source);
  const defaults = proto.opset_import.filter((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (defaults.length === 0) throw errors.onnxNotOnnx(ctx.source, 'it imports no version of the default ONNX operator set');
  const opset = toNumber(defaults[0].version);
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    throw errors.onnxInvalid(ctx.source, `opset ${opset} is outside the opsets groupconv reads (${MIN_OPSET} to ${MAX_OPSET})`);
  }
  const graph = buildGraph(proto.graph!, opset, ctx, prepareKernel);
  if (graph.inputs.length === 0) throw errors.onnxInvalid(ctx.source, 'the graph has no inputs to feed');
  if (graph.outputs.length === 0) throw errors.onnxInvalid(ctx.source, 'the graph has no outputs');
  for (const v of graph.inputs) {
    if (v.dtype !== 'float32') throw errors.onnxUnsupportedDtype(ctx.source, `graph input '${v.name}'`, v.dtype);
  }
  return new OnnxModel(graph, { irVersion: toNumber(proto.ir_version), opset, producer: `${proto.producer_name} ${proto.producer_version}`.trim(), source: ctx.source });
}
