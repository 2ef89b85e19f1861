// The safetensors reader and writer: round trips, dtypes written by Python
// (PyTorch's own F16/BF16/F64 -> F32 conversion is the expected value), and
// clear failures on truncated or malformed files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, loadSafetensors, parseSafetensors, saveSafetensors, serializeSafetensors, type Tensor } from '../src/index.js';
import { bits } from './support/tensors.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'safetensors');
const dir = mkdtempSync(join(tmpdir(), 'groupconv-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function headerOf(bytes: Uint8Array): Record<string, any> {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
}

/** A file with a hand-written header and data, to build malformed cases. */
function file(header: unknown, data: Uint8Array = new Uint8Array(0), lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors round trip', () => {
  const tensors: Record<string, Tensor> = {
    'features.0.weight': { shape: [2, 3, 1, 2], data: Float32Array.from([1, -2, 3.5, NaN, Infinity, -0, 1e-40, 3.4e38, -7, 0.1, 2 ** -20, 42]) },
    'classifier.6.bias': { shape: [3], data: Float32Array.from([0.25, -0.5, 1e-7]) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
    scalar: { shape: [], data: Float32Array.from([7.25]) },
  };

  it('gives back every tensor bit for bit, with its shape, through a file', () => {
    const path = join(dir, 'round.safetensors');
    saveSafetensors(path, tensors, { format: 'pt' });
    const back = loadSafetensors(path);
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back[name].shape).toEqual(t.shape);
      expect(bits(back[name].data)).toEqual(bits(t.data));
    }
  });

  it('writes the standard layout: F32 entries with contiguous offsets, data aligned to 8 bytes, metadata kept', () => {
    const bytes = serializeSafetensors(tensors, { format: 'pt' });
    const header = headerOf(bytes);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header['features.0.weight']).toEqual({ dtype: 'F32', shape: [2, 3, 1, 2], data_offsets: [0, 48] });
    expect(header['classifier.6.bias']).toEqual({ dtype: 'F32', shape: [3], data_offsets: [48, 60] });
    expect(header.empty.data_offsets).toEqual([60, 60]);
    expect(header.scalar).toEqual({ dtype: 'F32', shape: [], data_offsets: [60, 64] });
    expect(bytes.length).toBe(8 + headerLength + 64);
    // Little-endian float32 data: the first value, 1.0, is 00 00 80 3f.
    expect(Array.from(bytes.subarray(8 + headerLength, 8 + headerLength + 4))).toEqual([0, 0, 0x80, 0x3f]);
  });
});

describe('safetensors written by Python (PyTorch 1.13)', () => {
  const loaded = loadSafetensors(join(FIXTURES, 'dtypes.safetensors'));
  const expected = loadSafetensors(join(FIXTURES, 'dtypes-expected.safetensors'));

  it.each(['f32', 'f16', 'bf16', 'f64', 'empty', 'scalar'])('%s converts to float32 exactly as PyTorch does', (name) => {
    const want = expected[`${name}_as_f32`];
    expect(loaded[name].shape).toEqual(want.shape);
    expect(bits(loaded[name].data)).toEqual(bits(want.data));
  });

  it('covers the interesting values: F16 subnormals and overflow to infinity, BF16 rounding', () => {
    // 5.96e-8 is F16's smallest subnormal (2^-24); 1e30 overflows F16 to infinity but not BF16.
    expect(loaded.f16.data[7]).toBe(2 ** -24);
    expect(loaded.f16.data[9]).toBe(Infinity);
    expect(loaded.bf16.data[9]).toBeCloseTo(1e30, -27);
    expect(loaded.bf16.data[2]).toBe(1);
  });
});

describe('safetensors failures', () => {
  const good = serializeSafetensors({ a: { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }, b: { shape: [1], data: Float32Array.from([5]) } });

  it('refuses every truncation of a file, naming the problem', () => {
    for (let cut = 0; cut < good.length; cut++) {
      expect(() => parseSafetensors(good.subarray(0, cut), 'cut.safetensors'), `cut at ${cut}`).toThrow(ArgumentError);
    }
    expect(() => parseSafetensors(good.subarray(0, good.length - 1), 'cut.safetensors')).toThrow(/cut\.safetensors: tensor 'b' ends at byte 20 but the data has 19: truncated/);
    expect(() => parseSafetensors(good.subarray(0, 5))).toThrow(/too short for the 8-byte header length/);
    expect(() => parseSafetensors(good.subarray(0, 20))).toThrow(/exceeds the file .*truncated or not safetensors/);
  });

  it('refuses malformed headers', () => {
    const f32 = new Uint8Array(8);
    const cases: [Uint8Array, RegExp][] = [
      [file('{not json'), /header is not valid JSON/],
      [file('[1, 2]'), /header is not a JSON object/],
      [file({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, f32), /tensor 'a' has dtype C64; supported: F32, F16, BF16, F64, I64/],
      [file({ a: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, f32), /tensor 'a' has a bad shape/],
      [file({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, f32), /tensor 'a' has bad data_offsets/],
      [file({ a: { dtype: 'F32', shape: [2] } }, f32), /tensor 'a' has bad data_offsets/],
      [file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32), /shape \[3\] of F32 needs 12 bytes, data_offsets span 8/],
      [file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32, 1n << 40n), /header length \d+ exceeds the file/],
    ];
    for (const [bytes, message] of cases) expect(() => parseSafetensors(bytes)).toThrow(message);
  });

  it('names the file when loading from disk fails', () => {
    const path = join(dir, 'bad.safetensors');
    saveSafetensors(path, {});
    expect(loadSafetensors(path)).toEqual({});
    expect(() => parseSafetensors(file('nope'), path)).toThrow(path);
  });
});
