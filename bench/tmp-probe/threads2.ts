import { readFileSync, readdirSync } from 'node:fs';
import { GroupedConvEngine } from '../../src/index.js';
import { modelAndInput } from '../support/program-capture.js';
const path = process.argv[2]; const batch = Number(process.argv[3] ?? 8); const n = Number(process.argv[4] ?? 60);
const { model, x } = modelAndInput(path, batch);
const engines: Record<string, GroupedConvEngine> = { workers: new GroupedConvEngine({ workers: 2 }), calling: new GroupedConvEngine({ workers: 2, callingThread: true }), oneCalling: new GroupedConvEngine({ workers: 1, callingThread: true }) };
for (const e of Object.values(engines)) { await e.warmup(); for (let i = 0; i < 70; i++) await model.forwardWith(e, x); }
const stat = () => { const m = new Map<string, number[]>(); for (const t of readdirSync('/proc/self/task')) { try { const s = readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ').map(Number); const v = readFileSync(`/proc/self/task/${t}/status`, 'utf8').match(/\nvoluntary_ctxt_switches:\s+(\d+)\nnonvoluntary_ctxt_switches:\s+(\d+)/)!; m.set(t, [s[0], s[1], Number(v[1]), Number(v[2])]); } catch {} } return m; };
for (let round = 0; round < 3; round++) for (const [name, e] of Object.entries(engines)) {
  const s0 = stat(); const times: number[] = [];
  for (let i = 0; i < n; i++) { const a = performance.now(); await model.forwardWith(e, x); times.push(performance.now() - a); }
  const s1 = stat(); times.sort((a, b) => a - b);
  const rows: string[] = [];
  for (const [t, v] of s1) { const o = s0.get(t) ?? [0, 0, 0, 0]; const d = v.map((x, i) => (x - o[i]) / n); if (d[0] > 2e5) rows.push(`${t === String(process.pid) ? 'main' : t}: run ${(d[0] / 1e6).toFixed(2)} wait ${(d[1] / 1e6).toFixed(2)} vol ${d[2].toFixed(1)} invol ${d[3].toFixed(1)}`); }
  console.log(`${name.padEnd(10)} median ${times[n >> 1].toFixed(2)} ms; ${rows.join(' | ')}`);
}
for (const e of Object.values(engines)) await e.close(); model.close();
