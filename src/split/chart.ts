// The device timeline as an SVG: a row per device, the trace's slices as bars
// (compute blue, transfers orange), a time axis in ms. Drawn from the same
// events as --trace, so the chart and the trace never disagree.
import type { TraceEvent } from './trace.js';

const ROW = 28;
const LEFT = 90;
const WIDTH = 960;
const TOP = 30;

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** One chart of the events of process `pid` (1: the simulated timeline, 2: the measured run). */
export function timelineSvg(events: readonly TraceEvent[], title: string, pid = 1): string {
  const rows = events.filter((e) => e.pid === pid && e.name === 'thread_name').map((e) => ({ tid: e.tid, name: String(e.args?.name ?? e.tid) }));
  const slices = events.filter((e) => e.pid === pid && e.ph === 'X');
  const endUs = Math.max(1, ...slices.map((e) => (e.ts ?? 0) + (e.dur ?? 0)));
  const x = (us: number) => LEFT + ((WIDTH - LEFT - 20) * us) / endUs;
  const height = TOP + rows.length * ROW + 40;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${LEFT}" y="18" font-size="13">${escape(title)}</text>`,
  ];
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    parts.push(`<text x="8" y="${y + ROW / 2 + 4}">${escape(row.name)}</text>`);
    for (const e of slices.filter((s) => s.tid === row.tid)) {
      const x0 = x(e.ts ?? 0);
      const w = Math.max(0.5, x(e.ts! + e.dur!) - x0);
      const fill = e.cat === 'transfer' ? '#e8893a' : '#3a7be8';
      const bytes = e.args?.bytes !== undefined ? `, ${e.args.bytes} bytes` : '';
      parts.push(
        `<rect x="${x0.toFixed(2)}" y="${y + 4}" width="${w.toFixed(2)}" height="${ROW - 8}" fill="${fill}" stroke="#fff" stroke-width="0.3">` +
          `<title>${escape(`${e.name}: ${((e.dur ?? 0) / 1000).toFixed(3)} ms${bytes}`)}</title></rect>`,
      );
    }
  });
  const axisY = TOP + rows.length * ROW + 12;
  parts.push(`<line x1="${LEFT}" y1="${axisY}" x2="${WIDTH - 20}" y2="${axisY}" stroke="#000"/>`);
  for (let k = 0; k <= 4; k++) {
    const us = (endUs * k) / 4;
    parts.push(`<text x="${x(us).toFixed(1)}" y="${axisY + 14}" text-anchor="middle">${(us / 1000).toFixed(2)} ms</text>`);
  }
  parts.push(`<text x="${WIDTH - 200}" y="18"><tspan fill="#3a7be8">■ compute</tspan>  <tspan fill="#e8893a">■ transfer</tspan></text>`, '</svg>');
  return `${parts.join('\n')}\n`;
}
