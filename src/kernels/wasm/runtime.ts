// Loads the AssemblyScript convolution kernel (conv.wasm, built from
// ./assembly/conv.ts by `npm run build:wasm`) onto the process-wide shared
// memory. Each thread (main or worker) gets its own instance over the same
// memory: instances keep no state of their own, so they may run at once.
import { readFileSync } from 'node:fs';
import { sharedArena } from '../../memory/arena.js';

/** The kernel entry point; every argument is an i32 (pointers are byte offsets into the arena). */
export type ConvSliceFunction = (...args: number[]) => void;

// The smallest module using a v128 instruction: (func (result v128) v128.const 0).
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a,
  0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x0b,
]);

let simdSupport: boolean | undefined;

/** Whether this runtime validates WebAssembly SIMD (128-bit) code. */
export function hasWasmSimd(): boolean {
  simdSupport ??= typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  return simdSupport;
}

/** Where conv.wasm sits: beside this module, in src/ under tsx and in dist/ after `npm run build`. */
export const WASM_URL = new URL('./conv.wasm', import.meta.url);

let compiled: WebAssembly.Module | undefined;
let instance: { memory: WebAssembly.Memory; convSlice: ConvSliceFunction } | undefined;

/** This thread's kernel instance over the shared arena's memory (instantiated on first use). */
export function wasmConvSlice(): ConvSliceFunction {
  const memory = sharedArena().memory;
  if (instance && instance.memory === memory) return instance.convSlice;
  compiled ??= new WebAssembly.Module(readFileSync(WASM_URL));
  const created = new WebAssembly.Instance(compiled, { env: { memory } });
  instance = { memory, convSlice: created.exports.convSlice as ConvSliceFunction };
  return instance.convSlice;
}
