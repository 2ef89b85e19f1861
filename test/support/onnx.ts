// Helpers for the ONNX tests: the fixtures' catalogue, closeness to PyTorch,
// and editing a model's protobuf (to build the bad files the error tests need,
// and small synthetic graphs) with the same schema the loader uses.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { ONNX_PROTO } from '../../src/onnx/schema/onnx-schema.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { expectTensorClose, maxAbs, onnxTolerance } from './tolerance.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'onnx');

export interface OnnxCase {
  id: string;
  file: string;
  io: string;
  opset: number;
  inputShape: number[];
  outputShape: number[];
  parameterCount: number;
  inputs: { name: string; shape: (number | string)[]; dtype: string }[];
  outputs: { name: string; shape: (number | string)[]; dtype: string }[];
  operators: string[];
}

export const CASES: OnnxCase[] = JSON.parse(readFileSync(join(FIXTURES, 'cases.json'), 'utf8')).cases;

export const fixtureBytes = (file: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, file)));

/** A model's output against PyTorch's, under the ONNX issue's rule (tolerance.ts, onnxTolerance). */
export function expectClose(got: Tensor, expected: Tensor): void {
  expectTensorClose(got, expected, onnxTolerance(maxAbs(expected.data)));
}

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
export const ModelProto = root.lookupType('onnx.ModelProto');

/* eslint-disable @typescript-eslint/no-explicit-any */
/** The fixture decoded as a plain object (int64 as numbers, bytes as Uint8Array) to edit and re-encode. */
export function decodeFixture(file: string): any {
  return ModelProto.toObject(ModelProto.decode(fixtureBytes(file)), { longs: Number, bytes: Uint8Array, defaults: false, arrays: true });
}

export function encodeModel(model: any): Uint8Array {
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

export const attr = {
  int: (name: string, i: number) => ({ name, type: 2, i }),
  ints: (name: string, ints: number[]) => ({ name, type: 7, ints }),
  float: (name: string, f: number) => ({ name, type: 1, f }),
  floats: (name: string, floats: number[]) => ({ name, type: 6, floats }),
  string: (name: string, s: string) => ({ name, type: 3, s: new TextEncoder().encode(s) }),
  tensor: (name: string, t: any) => ({ name, type: 4, t }),
  graph: (name: string, g: any) => ({ name, type: 5, g }),
};

export const floatTensor = (name: string, dims: number[], values: number[]) => ({ name, dims, data_type: 1, float_data: values });
export const intTensor = (name: string, dims: number[], values: number[]) => ({ name, dims, data_type: 7, int64_data: values });

export const valueInfo = (name: string, dims: (number | string)[], elemType = 1) => ({
  name,
  type: { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } },
});

/** A one-graph model from parts, as bytes. */
export function makeModel(parts: { nodes: any[]; inputs: any[]; outputs: any[]; initializers?: any[]; opset?: number }): Uint8Array {
  return encodeModel({
    ir_version: 8,
    producer_name: 'groupconv tests',
    opset_import: [{ domain: '', version: parts.opset ?? 13 }],
    graph: { name: 'g', node: parts.nodes, input: parts.inputs, output: parts.outputs, initializer: parts.initializers ?? [] },
  });
}

/** A seeded generator (mulberry32), so a failing fuzz case can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
