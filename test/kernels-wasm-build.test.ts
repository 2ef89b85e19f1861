// conv.wasm is committed and rebuilt by `npm ci` (prepare): check that it is
// what the AssemblyScript source compiles to, and that it runs on the shared
// arena's memory without static data or imports beyond that memory.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sharedArena } from '../src/index.js';
import { WASM_URL, wasmConvSlice } from '../src/kernels/wasm/runtime.js';

// assemblyscript's .d.ts declares a global `namespace console` (AssemblyScript's
// own), which replaces Node's console type for the whole program once imported
// statically. Loading the compiler through a variable specifier keeps its
// declarations out of the program; only the one call used here is typed.
interface AscCompiler {
  main(argv: string[], options: { writeFile: (name: string, contents: Uint8Array | string) => void }): Promise<{ error: Error | null; stderr: unknown }>;
}
const ASC_MODULE = 'assemblyscript/asc';
const loadAsc = async (): Promise<AscCompiler> => ((await import(ASC_MODULE)) as { default: AscCompiler }).default;

const SOURCE = fileURLToPath(new URL('../src/kernels/wasm/assembly/conv.ts', import.meta.url));
const CONFIG = fileURLToPath(new URL('../src/kernels/wasm/asconfig.json', import.meta.url));

describe('conv.wasm', () => {
  it('matches its AssemblyScript source (run `npm run build:wasm` after editing it)', async () => {
    let built: Uint8Array | undefined;
    const asc = await loadAsc();
    const { error, stderr } = await asc.main([SOURCE, '--config', CONFIG], {
      writeFile: (name, contents) => {
        if (name.endsWith('.wasm')) built = contents as Uint8Array;
      },
    });
    expect(error, String(stderr)).toBeNull();
    expect(built).toBeDefined();
    expect(Buffer.from(built!).equals(readFileSync(WASM_URL))).toBe(true);
  }, 60_000);

  it('imports only a shared memory, has no data segments, and instantiates on the arena memory', () => {
    const module = new WebAssembly.Module(readFileSync(WASM_URL)) as unknown as object;
    const W = WebAssembly as unknown as {
      Module: { imports(m: object): { module: string; name: string; kind: string }[]; exports(m: object): { name: string }[] };
    };
    expect(W.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    expect(W.Module.exports(module).map((e) => e.name)).toContain('convSlice');
    // Data section id 11 would re-initialise low memory at each instantiation.
    const bytes = readFileSync(WASM_URL);
    let at = 8;
    const sections: number[] = [];
    while (at < bytes.length) {
      const id = bytes[at++];
      let size = 0;
      for (let shift = 0; ; shift += 7) {
        const b = bytes[at++];
        size |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
      sections.push(id);
      at += size;
    }
    expect(sections).not.toContain(11);
    expect(typeof wasmConvSlice()).toBe('function');
    expect(sharedArena().buffer).toBeInstanceOf(SharedArrayBuffer);
  });
});
