// The safetensors format: 8-byte little-endian header length, a JSON header
// { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }, then
// the raw little-endian data, offsets relative to the end of the header.
import { readFileSync, writeFileSync } from 'node:fs';
import { errors, type ArgumentError } from '../errors.js';
import { bfloat16ToFloat, halfToFloat } from '../tensor/half-float.js';
import { numel, type Tensor } from '../tensor/tensor.js';

// Integer tensors (a PyTorch checkpoint's BatchNorm num_batches_tracked is I64)
// are read as float32 too: exact up to 2^24, which is all such counters need.
const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function malformed(source: string, why: string): ArgumentError {
  return errors.invalid('safetensors', `${source}: ${why}`);
}

/** Tensors from the bytes of a .safetensors file; F16, BF16, F64 and integer dtypes are converted to float32. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors data'): Record<string, Tensor> {
  if (bytes.length < 8) throw malformed(source, `file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) {
    throw malformed(source, `header length ${headerLength} exceeds the file (${bytes.length} bytes): truncated or not safetensors`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw malformed(source, `header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw malformed(source, 'header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataBytes = bytes.length - dataStart;
  const out: Record<string, Tensor> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = entry ?? ({} as never);
    if (!(dtype in BYTES)) throw malformed(source, `tensor '${name}' has dtype ${dtype}; supported: ${Object.keys(BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw malformed(source, `tensor '${name}' has a bad shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw malformed(source, `tensor '${name}' has bad data_offsets`);
    }
    const n = numel(shape);
    if (offsets[1] - offsets[0] !== n * BYTES[dtype]) {
      throw malformed(source, `tensor '${name}': shape [${shape}] of ${dtype} needs ${n * BYTES[dtype]} bytes, data_offsets span ${offsets[1] - offsets[0]}`);
    }
    if (offsets[1] > dataBytes) throw malformed(source, `tensor '${name}' ends at byte ${offsets[1]} but the data has ${dataBytes}: truncated`);
    const at = dataStart + offsets[0];
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      switch (dtype) {
        case 'F32':
          data[i] = view.getFloat32(at + 4 * i, true);
          break;
        case 'F64':
          data[i] = view.getFloat64(at + 8 * i, true);
          break;
        case 'F16':
          data[i] = halfToFloat(view.getUint16(at + 2 * i, true));
          break;
        case 'BF16':
          data[i] = bfloat16ToFloat(view.getUint16(at + 2 * i, true));
          break;
        case 'I64':
          data[i] = Number(view.getBigInt64(at + 8 * i, true));
          break;
        case 'I32':
          data[i] = view.getInt32(at + 4 * i, true);
          break;
        case 'I16':
          data[i] = view.getInt16(at + 2 * i, true);
          break;
        case 'I8':
          data[i] = view.getInt8(at + i);
          break;
        case 'U8':
          data[i] = view.getUint8(at + i);
          break;
      }
    }
    out[name] = { shape: [...shape], data };
  }
  return out;
}

export function loadSafetensors(path: string): Record<string, Tensor> {
  return parseSafetensors(readFileSync(path), path);
}

/** The bytes of a .safetensors file holding the tensors as F32. */
export function serializeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // align the data to 8 bytes, as the reference writer does
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of entries) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i], true);
    at += t.data.length * 4;
  }
  return out;
}

export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeFileSync(path, serializeSafetensors(tensors, metadata));
}
