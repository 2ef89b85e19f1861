// conv.wasm and conv-fma.wasm are committed and rebuilt by `npm ci` (prepare):
// check that each is what the AssemblyScript source compiles to, and that it runs on the shared
// arena's memory without static data or imports beyond that memory.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sharedArena } from '../src/index.js';
import { preferredWasmVariant } from '../src/kernels/plan/index.js';
import { WASM_URLS, hasWasmRelaxedSimd, wasmMicrokernel } from '../src/kernels/wasm/runtime.js';

// assemblyscript's .d.ts declares a global `namespace console` (AssemblyScript's
// own), which replaces Node's console type for the whole program once imported
// statically. Loading the compiler through a variable specifier keeps its
// declarations out of the program; only the one call used here is typed.
interface AscCompiler {
  main(argv: string[], options: { writeFile: (name: string, contents: Uint8Array | string) => void }): Promise<{ error: Error | null; stderr: unknown }>;
}
const ASC_MODULE = 'assemblyscript/asc';
const loadAsc = async (): Promise<AscCompiler> => ((await import(ASC_MODULE)) as { default: AscCompiler }).default;

const SOURCE = fileURLToPath(new URL('../src/kernels/wasm/assembly/entries.ts', import.meta.url));
const CONFIG = fileURLToPath(new URL('../src/kernels/wasm/asconfig.json', import.meta.url));

for (const variant of ['simd', 'fma'] as const) {
  const file = variant === 'simd' ? 'conv.wasm' : 'conv-fma.wasm';
  describe(file, () => {
    it('matches its AssemblyScript source (run `npm run build:wasm` after editing it)', async () => {
      let built: Uint8Array | undefined;
      const asc = await loadAsc();
      const { error, stderr } = await asc.main([SOURCE, '--config', CONFIG, '--target', variant], {
        writeFile: (name, contents) => {
          if (name.endsWith('.wasm')) built = contents as Uint8Array;
        },
      });
      expect(error, String(stderr)).toBeNull();
      expect(built).toBeDefined();
      expect(Buffer.from(built!).equals(readFileSync(WASM_URLS[variant]))).toBe(true);
    }, 60_000);

    it('imports only a shared memory, has no data segments, and instantiates on the arena memory', () => {
      if (variant === 'fma') expect(hasWasmRelaxedSimd()).toBe(true); // turns V8's flag on before compiling
      const module = new WebAssembly.Module(readFileSync(WASM_URLS[variant])) as unknown as object;
      const W = WebAssembly as unknown as {
        Module: { imports(m: object): { module: string; name: string; kind: string }[]; exports(m: object): { name: string }[] };
      };
      expect(W.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
      expect(W.Module.exports(module).map((e) => e.name)).toContain('direct');
      // Data section id 11 would re-initialise low memory at each instantiation.
      const bytes = readFileSync(WASM_URLS[variant]);
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
      expect(typeof wasmMicrokernel(variant, 'direct')).toBe('function');
      expect(sharedArena().buffer).toBeInstanceOf(SharedArrayBuffer);
    });
  });
}

describe('build choice', () => {
  it('uses fused multiply-add where relaxed SIMD validates (Node 20 after turning its flag on)', () => {
    expect(hasWasmRelaxedSimd()).toBe(true);
    expect(preferredWasmVariant()).toBe(process.env.GROUPCONV_WASM === 'simd' ? 'simd' : 'fma');
  });

  it('only the fma build contains f32x4.relaxed_madd (0xfd 0x85 0x02)', () => {
    const count = (bytes: Uint8Array) => {
      let n = 0;
      for (let i = 0; i + 2 < bytes.length; i++) if (bytes[i] === 0xfd && bytes[i + 1] === 0x85 && bytes[i + 2] === 0x02) n++;
      return n;
    };
    expect(count(readFileSync(WASM_URLS.simd))).toBe(0);
    expect(count(readFileSync(WASM_URLS.fma))).toBeGreaterThan(0);
  });
});
