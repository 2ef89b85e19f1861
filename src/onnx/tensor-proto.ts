// TensorProto (initializers, Constant values, attribute tensors) to Values.
// The data can be raw little-endian bytes, one of the typed repeated fields, or
// external: a range of another file named relative to the model. Every size is
// checked against what the file actually holds before anything is allocated,
// so a corrupted dims field cannot ask for gigabytes.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { isAbsolute, relative, resolve } from 'node:path';
import { errors } from '../errors.js';
import { asBytes, dataTypeName, toNumber, type TensorProto } from './proto.js';
import { bfloat16ToFloat, halfToFloat } from '../tensor/half-float.js';
import { boolValue, floatValue, intValue, MAX_ELEMENTS, type Value } from './value.js';

/** Where the model came from: for messages, and for external data (its directory). */
export interface LoadContext {
  source: string;
  /** Directory of the model file; null when the model was given as bytes. */
  directory: string | null;
}

// Element sizes in raw_data, and which Value each ONNX data type becomes.
const RAW_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };
const FLOATS = new Set([1, 10, 11, 16]);

export function tensorFromProto(t: TensorProto, where: string, ctx: LoadContext): Value {
  const type = t.data_type;
  if (!(type in RAW_BYTES)) throw errors.onnxUnsupportedDtype(ctx.source, where, dataTypeName(type));
  if (t.segment) throw errors.onnxInvalid(ctx.source, `${where} is a segment of a tensor, which groupconv does not support`);
  const shape = t.dims.map(toNumber);
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw errors.onnxInvalid(ctx.source, `${where} has an invalid dimension in [${shape}]`);
    count *= d;
  }
  if (count > MAX_ELEMENTS) throw errors.onnxInvalid(ctx.source, `${where} declares shape [${shape}] (${count} elements), more than groupconv allows`);
  const width = RAW_BYTES[type];

  let raw: Uint8Array | null = null;
  if (t.data_location === 1) raw = readExternal(t, where, count * width, ctx);
  else if (asBytes(t.raw_data).length > 0 || count === 0) raw = asBytes(t.raw_data);
  if (raw) {
    // The declared shape must account for exactly the bytes there are.
    if (raw.length !== count * width) {
      throw errors.onnxInvalid(ctx.source, `${where}: shape [${shape}] of ${dataTypeName(type)} needs ${count * width} bytes, its data has ${raw.length}`);
    }
    return fromRaw(type, shape, count, raw);
  }
  const typed = typedField(t, type);
  if (typed.length !== count) {
    throw errors.onnxInvalid(ctx.source, `${where}: shape [${shape}] holds ${count} values, its data has ${typed.length}`);
  }
  return fromTyped(type, shape, typed);
}

// raw_data is little-endian; on a little-endian machine FLOAT data is a byte copy (a 250 MB AlexNet loads in a blink, not seconds).
const LITTLE_ENDIAN = endianness() === 'LE';

function fromRaw(type: number, shape: number[], count: number, raw: Uint8Array): Value {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (FLOATS.has(type)) {
    const out = new Float32Array(count);
    if (type === 1 && LITTLE_ENDIAN) new Uint8Array(out.buffer).set(raw);
    else if (type === 1) for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    else if (type === 11) for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
    else if (type === 10) for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
    else for (let i = 0; i < count; i++) out[i] = bfloat16ToFloat(view.getUint16(i * 2, true));
    return floatValue(shape, out);
  }
  if (type === 9) return boolValue(shape, Uint8Array.from(raw, (b) => (b ? 1 : 0)));
  const out = new Float64Array(count);
  const read: (i: number) => number = {
    2: (i: number) => view.getUint8(i),
    3: (i: number) => view.getInt8(i),
    4: (i: number) => view.getUint16(i * 2, true),
    5: (i: number) => view.getInt16(i * 2, true),
    6: (i: number) => view.getInt32(i * 4, true),
    7: (i: number) => Number(view.getBigInt64(i * 8, true)),
    12: (i: number) => view.getUint32(i * 4, true),
    13: (i: number) => Number(view.getBigUint64(i * 8, true)),
  }[type]!;
  for (let i = 0; i < count; i++) out[i] = read(i);
  return intValue(shape, out);
}

/** The repeated field ONNX keeps this data type's values in (onnx.proto's comments on TensorProto). */
function typedField(t: TensorProto, type: number): number[] {
  switch (type) {
    case 1:
      return t.float_data;
    case 11:
      return t.double_data;
    case 7:
      return t.int64_data.map(toNumber);
    case 12:
    case 13:
      return t.uint64_data.map(toNumber);
    case 10:
      // FLOAT16 and BFLOAT16 values sit in int32_data as their 16-bit patterns.
      return t.int32_data.map(halfToFloat);
    case 16:
      return t.int32_data.map(bfloat16ToFloat);
    default:
      return t.int32_data;
  }
}

function fromTyped(type: number, shape: number[], values: number[]): Value {
  if (FLOATS.has(type)) return floatValue(shape, Float32Array.from(values));
  if (type === 9) return boolValue(shape, Uint8Array.from(values, (v) => (v ? 1 : 0)));
  return intValue(shape, values);
}

/** external_data: location (relative to the model's directory), offset, length. */
function readExternal(t: TensorProto, where: string, needed: number, ctx: LoadContext): Uint8Array {
  const entries = new Map(t.external_data.map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (!location) throw errors.onnxInvalid(ctx.source, `${where} is stored externally but names no location`);
  if (ctx.directory === null) {
    throw errors.onnxInvalid(ctx.source, `${where} is stored in the external file '${location}'; load the model from its path so that file can be found`);
  }
  // The location must stay inside the model's directory: a model file must not make us read /etc/passwd.
  const path = resolve(ctx.directory, location);
  const inside = relative(ctx.directory, path);
  if (isAbsolute(location) || inside.startsWith('..') || isAbsolute(inside)) {
    throw errors.onnxInvalid(ctx.source, `${where}: external data location '${location}' is outside the model's directory`);
  }
  const offset = Number(entries.get('offset') ?? 0);
  const length = entries.has('length') ? Number(entries.get('length')) : needed;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw errors.onnxInvalid(ctx.source, `${where}: external data offset ${entries.get('offset')} / length ${entries.get('length')} are not byte counts`);
  }
  if (length !== needed) throw errors.onnxInvalid(ctx.source, `${where}: its shape needs ${needed} bytes, its external data length is ${length}`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw errors.onnxInvalid(ctx.source, `${where}: cannot open external data file '${location}' (${(e as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    if (offset + length > size) {
      throw errors.onnxInvalid(ctx.source, `${where}: external data [${offset}, ${offset + length}) runs past the end of '${location}' (${size} bytes)`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw errors.onnxInvalid(ctx.source, `${where}: '${location}' ended while reading its external data`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
