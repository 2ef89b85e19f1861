import { readFileSync } from 'node:fs';
import { GroupedConvEngine } from '../../src/index.js';
import { modelAndInput } from '../support/program-capture.js';
import { schedstat } from '../support/schedstat.js';
const path = process.argv[2]; const batch = Number(process.argv[3] ?? 8); const n = Number(process.argv[4] ?? 60);
const { model, x } = modelAndInput(path, batch);
const engines = { workers: new GroupedConvEngine({ workers: 2 }), calling: new GroupedConvEngine({ workers: 2, callingThread: true }), one: new GroupedConvEngine({ workers: 1 }), oneCalling: new GroupedConvEngine({ workers: 1, callingThread: true }) };
for (const e of Object.values(engines)) { await e.warmup(); for (let i = 0; i < 70; i++) await model.forwardWith(e, x); }
const comm = (t: string) => { try { return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim(); } catch { return '?'; } };
for (let round = 0; round < 3; round++) for (const [name, e] of Object.entries(engines)) {
  const s0 = schedstat(); const t0 = performance.now();
  const times: number[] = [];
  for (let i = 0; i < n; i++) { const a = performance.now(); await model.forwardWith(e, x); times.push(performance.now() - a); }
  const wall = performance.now() - t0; const s1 = schedstat();
  times.sort((a, b) => a - b);
  const rows: string[] = [];
  for (const [t, [r, w]] of s1) { const [r0, w0] = s0.get(t) ?? [0, 0]; const dr = (r - r0) / 1e6 / n, dw = (w - w0) / 1e6 / n; if (dr > 0.05 || dw > 0.05) rows.push(`${comm(t)}:${t} run ${dr.toFixed(2)} wait ${dw.toFixed(2)}`); }
  console.log(`${name}: median ${times[n >> 1].toFixed(2)} ms, wall/forward ${(wall / n).toFixed(2)}; ${rows.join(' | ')}`);
}
for (const e of Object.values(engines)) await e.close(); model.close();
