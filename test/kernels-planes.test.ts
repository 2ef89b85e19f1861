// buildPlanes (src/kernels/wasm/assembly/planes.ts) copies a group's input
// into zero-padded phase planes; its stride-2 rows are split with vector
// shuffles between scalar borders. A copy must be exact: every plane element,
// the padding's zeros and the untouched gaps between channels are compared bit
// for bit with a plain JavaScript rendering of the layout, in both builds.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Random } from '../src/index.js';
import { WASM_URLS, hasWasmRelaxedSimd } from '../src/kernels/wasm/runtime.js';

type BuildPlanes = (src: number, dst: number, channels: number, h: number, w: number, strideH: number, strideW: number, padTop: number, padLeft: number, planeH: number, planeW: number, channelStride: number) => void;

interface PlaneCase {
  channels: number;
  h: number;
  w: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
  planeH: number;
  planeW: number;
  channelStride: number;
}

// A NaN with a payload no copy or zeroing produces: whatever still holds it was never written.
const UNWRITTEN = 0x7fc0dead;
const SRC_BYTE = 65536; // clear of anything the module might keep low in memory

function referencePlanes(source: Float32Array, k: PlaneCase): Uint32Array {
  const out = new Float32Array(k.channels * k.channelStride);
  new Uint32Array(out.buffer).fill(UNWRITTEN);
  const planeFloats = k.planeH * k.planeW;
  for (let c = 0; c < k.channels; c++) {
    for (let ry = 0; ry < k.strideH; ry++) {
      for (let rx = 0; rx < k.strideW; rx++) {
        const plane = c * k.channelStride + (ry * k.strideW + rx) * planeFloats;
        for (let y = 0; y < k.planeH; y++) {
          for (let x = 0; x < k.planeW; x++) {
            const iy = y * k.strideH + ry - k.padTop;
            const ix = x * k.strideW + rx - k.padLeft;
            const inside = iy >= 0 && iy < k.h && ix >= 0 && ix < k.w;
            out[plane + y * k.planeW + x] = inside ? source[(c * k.h + iy) * k.w + ix] : 0;
          }
        }
      }
    }
  }
  return new Uint32Array(out.buffer);
}

function wasmPlanes(variant: 'simd' | 'fma', source: Float32Array, k: PlaneCase): Uint32Array {
  if (variant === 'fma') expect(hasWasmRelaxedSimd()).toBe(true); // turns V8's flag on before compiling
  const dstFloats = k.channels * k.channelStride;
  const bytes = SRC_BYTE + (source.length + dstFloats + 16) * 4;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536), maximum: 1024, shared: true });
  const module = new WebAssembly.Module(readFileSync(WASM_URLS[variant]));
  const buildPlanes = new WebAssembly.Instance(module, { env: { memory } }).exports.buildPlanes as BuildPlanes;
  const floats = new Float32Array(memory.buffer);
  const dstByte = SRC_BYTE + source.length * 4;
  floats.set(source, SRC_BYTE / 4);
  new Uint32Array(memory.buffer, dstByte, dstFloats).fill(UNWRITTEN);
  buildPlanes(SRC_BYTE, dstByte, k.channels, k.h, k.w, k.strideH, k.strideW, k.padTop, k.padLeft, k.planeH, k.planeW, k.channelStride);
  return new Uint32Array(memory.buffer.slice(dstByte, dstByte + dstFloats * 4));
}

function randomCase(random: Random, strideW: number, w: number, padLeft: number, strideH: number): PlaneCase {
  const int = (low: number, high: number) => low + Math.floor(random.next() * (high - low + 1));
  const h = int(1, 6);
  const padTop = int(0, 3);
  // As src/kernels/plan/layout.ts sizes them: the padded input divided by the stride, rounded up.
  const planeW = Math.ceil((padLeft + w + int(0, 3)) / strideW);
  const planeH = Math.ceil((padTop + h + int(0, 3)) / strideH);
  const channelStride = strideH * strideW * planeH * planeW + int(0, 5);
  return { channels: int(1, 3), h, w, strideH, strideW, padTop, padLeft, planeH, planeW, channelStride };
}

function sourceFor(random: Random, k: PlaneCase): Float32Array {
  const source = new Float32Array(k.channels * k.h * k.w);
  // Distinct, nonzero values, so a column read from the wrong place or left at zero shows.
  for (let i = 0; i < source.length; i++) source[i] = (i + 1) * (random.next() < 0.5 ? -1 : 1) + random.next();
  return source;
}

function expectSameBits(variant: 'simd' | 'fma', random: Random, k: PlaneCase): void {
  const source = sourceFor(random, k);
  const got = wasmPlanes(variant, source, k);
  const want = referencePlanes(source, k);
  const first = got.findIndex((bits, i) => bits !== want[i]);
  expect(first, `${JSON.stringify(k)}: first differing float at ${first}`).toBe(-1);
}

for (const variant of ['simd', 'fma'] as const) {
  describe(`buildPlanes in ${variant === 'simd' ? 'conv.wasm' : 'conv-fma.wasm'}`, () => {
    it('matches the phase-plane layout for stride 2 across widths 1-40 and paddings 0-3, empty interiors included', () => {
      const random = new Random(29);
      for (let w = 1; w <= 40; w++) {
        for (let padLeft = 0; padLeft <= 3; padLeft++) {
          for (let strideH = 1; strideH <= 2; strideH++) expectSameBits(variant, random, randomCase(random, 2, w, padLeft, strideH));
        }
      }
    });

    it('matches the phase-plane layout for random shapes with strides 1-3 in each direction', () => {
      const random = new Random(1129);
      let cases = 0;
      while (cases < 400) {
        const strideH = 1 + Math.floor(random.next() * 3);
        const strideW = 1 + Math.floor(random.next() * 3);
        const w = 1 + Math.floor(random.next() * 40);
        const padLeft = Math.floor(random.next() * 4);
        expectSameBits(variant, random, randomCase(random, strideW, w, padLeft, strideH));
        cases++;
      }
    });
  });
}
