// Decoding an ONNX file's bytes into ModelProto messages, with protobufjs and
// ONNX's own schema (schema/onnx.proto, embedded in schema/onnx-schema.ts).
// Nothing here interprets the model: graph.ts does. What this adds to
// protobufjs is the error reporting: every failure becomes an OnnxError that
// says at which byte decoding stopped and what it expected there.
import protobuf from 'protobufjs';
import { errors } from '../errors.js';
import { ONNX_PROTO } from './schema/onnx-schema.js';

/** protobufjs gives int64 fields as Long objects (it has the `long` package) or as numbers. */
export type Int64 = number | { toNumber(): number };

/** A bytes field: protobufjs leaves an absent one as its default, which may be an empty array rather than a Uint8Array. */
export const asBytes = (v: Uint8Array | number[] | null | undefined): Uint8Array => (v instanceof Uint8Array ? v : new Uint8Array(v ?? []));

export const toNumber = (v: Int64 | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

// The fields of onnx.proto that groupconv reads, as protobufjs decodes them
// (keepCase: the schema's snake_case names). Absent optional fields read as
// their defaults (0, '', [], null).
export interface TensorProto {
  dims: Int64[];
  data_type: number;
  float_data: number[];
  int32_data: number[];
  string_data: Uint8Array[];
  int64_data: Int64[];
  name: string;
  raw_data: Uint8Array;
  double_data: number[];
  uint64_data: Int64[];
  external_data: { key: string; value: string }[];
  data_location: number;
  segment?: unknown;
}

export interface AttributeProto {
  name: string;
  ref_attr_name: string;
  type: number;
  f: number;
  i: Int64;
  s: Uint8Array;
  t: TensorProto | null;
  g: GraphProto | null;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparse_tensor?: unknown;
}

export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  domain: string;
  attribute: AttributeProto[];
}

export interface DimensionProto {
  dim_value?: Int64;
  dim_param?: string;
  value?: 'dim_value' | 'dim_param';
}

export interface TypeProto {
  tensor_type?: { elem_type: number; shape: { dim: DimensionProto[] } | null } | null;
  value?: string;
}

export interface ValueInfoProto {
  name: string;
  type: TypeProto | null;
}

export interface GraphProto {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  sparse_initializer: unknown[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
}

export interface ModelProto {
  ir_version: Int64;
  opset_import: { domain: string; version: Int64 }[];
  producer_name: string;
  producer_version: string;
  graph: GraphProto | null;
  functions: unknown[];
}

/** AttributeProto.AttributeType */
export const ATTRIBUTE_TYPES: Record<number, string> = {
  0: 'UNDEFINED',
  1: 'FLOAT',
  2: 'INT',
  3: 'STRING',
  4: 'TENSOR',
  5: 'GRAPH',
  11: 'SPARSE_TENSOR',
  13: 'TYPE_PROTO',
  6: 'FLOATS',
  7: 'INTS',
  8: 'STRINGS',
  9: 'TENSORS',
  10: 'GRAPHS',
  12: 'SPARSE_TENSORS',
  14: 'TYPE_PROTOS',
};

/** TensorProto.DataType */
export const DATA_TYPES: Record<number, string> = {
  0: 'UNDEFINED',
  1: 'FLOAT',
  2: 'UINT8',
  3: 'INT8',
  4: 'UINT16',
  5: 'INT16',
  6: 'INT32',
  7: 'INT64',
  8: 'STRING',
  9: 'BOOL',
  10: 'FLOAT16',
  11: 'DOUBLE',
  12: 'UINT32',
  13: 'UINT64',
  14: 'COMPLEX64',
  15: 'COMPLEX128',
  16: 'BFLOAT16',
};

export const dataTypeName = (t: number): string => DATA_TYPES[t] ?? `unknown data type ${t}`;

let modelType: protobuf.Type | null = null;

/** The ModelProto type, from the schema parsed once on first use (a few milliseconds). */
function modelProtoType(): protobuf.Type {
  if (!modelType) modelType = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

// ModelProto's field numbers and wire types (0 varint, 2 length-delimited): a
// model file's first byte is one of these tags. Protobuf writers emit fields in
// number order, so it is ir_version's 0x08 in every exporter's output.
const MODEL_FIELDS: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };

/**
 * Decodes a ModelProto. Throws OnnxError for bytes that are not a ModelProto
 * (with the reason) or that break off or contradict themselves (with the offset).
 */
export function decodeModel(bytes: Uint8Array, source: string): ModelProto {
  if (bytes.length === 0) throw errors.onnxNotOnnx(source, 'the file is empty');
  const tag = bytes[0];
  // (A first byte of 0x80 or more starts a multi-byte tag; decoding judges those.)
  if (tag < 0x80 && MODEL_FIELDS[tag >> 3] !== (tag & 7)) {
    throw errors.onnxNotOnnx(source, `its first byte 0x${tag.toString(16).padStart(2, '0')} is not the start of a ModelProto field (ir_version's tag is 0x08)`);
  }
  const reader = protobuf.Reader.create(bytes);
  let model: ModelProto;
  try {
    model = modelProtoType().decode(reader) as unknown as ModelProto;
  } catch (e) {
    throw errors.onnxCorrupt(source, reader.pos, describeDecodeError(e, reader.pos, reader.len, bytes));
  }
  if (toNumber(model.ir_version) <= 0) throw errors.onnxNotOnnx(source, 'it has no ir_version');
  if (!model.graph) throw errors.onnxNotOnnx(source, 'it has no graph');
  if (model.opset_import.length === 0) throw errors.onnxNotOnnx(source, 'it imports no operator set');
  return model;
}

/**
 * protobufjs's messages in the terms of the file. `pos` is where the reader
 * stopped; `end` the end of the message being read when it stopped (protobufjs
 * narrows the reader's length to each nested message).
 */
function describeDecodeError(e: unknown, pos: number, end: number, bytes: Uint8Array): string {
  const length = bytes.length;
  const message = e instanceof Error ? e.message : String(e);
  const limit = (at: number) => (at >= length ? `the file ends at byte ${length}` : `the message holding it ends at byte ${at}`);
  const range = /index out of range: (\d+) \+ (\d+) > (\d+)/.exec(message);
  if (range) return `a field of ${range[2]} bytes starts at byte ${range[1]}, but ${limit(Number(range[3]))}`;
  if (/index out of range/.test(message)) {
    const declared = lengthBefore(bytes, pos);
    return `the field whose data starts at byte ${pos} declares ${declared === null ? 'more bytes than remain' : `${declared} bytes`}, but ${limit(end)}`;
  }
  const wire = /invalid wire type (\d+)/.exec(message);
  if (wire) return `expected a field tag, found wire type ${wire[1]}, which protobuf does not have`;
  if (/varint|tag encoding|length encoding/.test(message)) return 'expected a varint, found one too long for its field (a length or tag over 32 bits, or over 10 bytes)';
  if (/field number 0/.test(message)) return 'expected a field tag, found field number 0';
  if (/max depth/.test(message) || (e instanceof RangeError && /call stack/i.test(message))) return 'messages are nested deeper than protobuf allows';
  if (/group/.test(message)) return 'expected the end of a group, which never comes';
  return `expected a valid ONNX protobuf message (${message})`;
}

/** The varint that ends just before `pos` (a length-delimited field's length), or null if there is none. */
function lengthBefore(bytes: Uint8Array, pos: number): number | null {
  if (pos <= 0 || pos > bytes.length || bytes[pos - 1] & 0x80) return null;
  let start = pos - 1;
  while (start > 0 && bytes[start - 1] & 0x80 && pos - start < 10) start--;
  let value = 0;
  for (let i = pos - 1; i >= start; i--) value = value * 128 + (bytes[i] & 0x7f);
  return value;
}
