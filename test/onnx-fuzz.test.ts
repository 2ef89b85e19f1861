// Whatever the bytes, loadOnnx returns a model or throws an OnnxError: no other
// exception, no hang, no huge allocation. Fixtures are cut at many offsets and
// have bytes flipped at many offsets (seeded, so a failure can be replayed);
// the smallest models that still load after a flip are run once as well.
import { describe, expect, it } from 'vitest';
import { ArgumentError, ExecutionError, loadOnnx, OnnxError, OnnxModel } from '../src/index.js';
import { fixtureBytes, seeded } from './support/onnx.js';

type Outcome = 'loaded' | 'error';

function tryLoad(bytes: Uint8Array, what: string): { outcome: Outcome; model?: OnnxModel } {
  try {
    return { outcome: 'loaded', model: loadOnnx(bytes) };
  } catch (e) {
    if (!(e instanceof OnnxError)) throw new Error(`${what}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
    return { outcome: 'error' };
  }
}

describe('fuzzing the loader', () => {
  // Small files of different kinds: plain conv net, shape chains (Pad/Slice/Reshape), If subgraphs.
  const files = ['padded_conv.onnx', 'squeezenet_like.onnx', 'alexnet_lrn.onnx', 'lrn_native.onnx'];

  for (const file of files) {
    it(`${file}: truncated at 150 offsets, every one a clean OnnxError`, () => {
      const bytes = fixtureBytes(file);
      const random = seeded(1234);
      const offsets = new Set<number>([0, 1, 2, bytes.length - 1]);
      while (offsets.size < Math.min(150, bytes.length)) offsets.add(Math.floor(random() * bytes.length));
      for (const n of offsets) {
        const { outcome } = tryLoad(bytes.slice(0, n), `${file} cut at ${n}`);
        // A cut can land on a message boundary and still decode; then the graph is missing parts.
        expect(['loaded', 'error']).toContain(outcome);
      }
    });

    it(`${file}: 150 copies with 1-4 bytes changed load or fail cleanly, and the loaded ones run or fail cleanly`, () => {
      const bytes = fixtureBytes(file);
      const random = seeded(file.length * 7919);
      const counts = { loaded: 0, error: 0, ran: 0, runError: 0 };
      for (let trial = 0; trial < 150; trial++) {
        const copy = bytes.slice();
        const flips = 1 + Math.floor(random() * 4);
        const at: number[] = [];
        for (let f = 0; f < flips; f++) {
          const i = Math.floor(random() * copy.length);
          // Half the time one bit, half the time the whole byte.
          if (random() < 0.5) copy[i] ^= 1 << Math.floor(random() * 8);
          else copy[i] = Math.floor(random() * 256);
          at.push(i);
        }
        const { outcome, model } = tryLoad(copy, `${file} flipped at ${at}`);
        counts[outcome]++;
        // Running: the input shape may itself be corrupted; use the declared one where it is sane.
        if (model && counts.ran + counts.runError < 40) {
          const shape = (model.inputs[0].shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
          if (shape.length === 0 || shape.some((d) => d < 1 || d > 128)) continue;
          try {
            model.forward({ shape, data: new Float32Array(shape.reduce((p, d) => p * d, 1)) });
            counts.ran++;
          } catch (e) {
            if (!(e instanceof ArgumentError || e instanceof ExecutionError)) throw new Error(`${file} flipped at ${at}: forward threw ${(e as Error).constructor.name}: ${(e as Error).message}`);
            counts.runError++;
          }
        }
      }
      expect(counts.loaded + counts.error).toBe(150);
      // Most flips land in weights, so most copies still load.
      expect(counts.loaded).toBeGreaterThan(0);
    });
  }
});

/** A protobuf varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

const field = (tag: number, body: number[]) => [tag, ...varint(body.length), ...body];

describe('hostile files', () => {
  it('subgraphs nested 200 deep are a clean error, not a stack overflow', () => {
    // GraphProto.node (1) > NodeProto.attribute (5) > AttributeProto.g (6) > GraphProto ...
    let graph: number[] = [];
    for (let level = 0; level < 200; level++) graph = field(0x0a, field(0x2a, field(0x32, graph)));
    const model = Uint8Array.from([0x08, 0x08, ...field(0x3a, graph)]);
    expect(() => loadOnnx(model)).toThrow(OnnxError);
    expect(() => loadOnnx(model)).toThrow(/nested deeper than protobuf allows/);
  });

  it('a huge declared length is an error about that length, without allocating it', () => {
    const gib = Uint8Array.from([0x08, 0x08, 0x3a, ...varint(2 ** 30), 0x0a, 0x00]);
    expect(() => loadOnnx(gib)).toThrow(/at byte 8: the field whose data starts at byte 8 declares 1073741824 bytes, but the file ends at byte 10/);
    const beyond32Bits = Uint8Array.from([0x08, 0x08, 0x3a, ...varint(2 ** 56), 0x0a, 0x00]);
    expect(() => loadOnnx(beyond32Bits)).toThrow(/expected a varint, found one too long for its field/);
  });
});
