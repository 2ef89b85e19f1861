// --chart with --model: time by layer at each worker count, one panel per batch
// and policy, the top layers by time as groups of horizontal bars (one bar per
// worker count), so a layer that does not scale stands out at a glance.
import type { LayerBreakdown } from '../bench.js';
import { formatMs } from './format.js';
import { TOP_LAYERS } from './layers.js';

const BAR = 9;
const GAP = 10;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

const n = (v: number) => (Math.round(v * 10) / 10).toString();

/** One panel's SVG and its height; `escape` and `text` come from svg.ts so both charts look alike. */
export function layerTimePanel(
  top: number,
  width: number,
  title: string,
  rows: readonly LayerBreakdown[],
  escape: (s: string) => string,
  text: (x: number, y: number, content: string, attrs?: string) => string,
): { svg: string; height: number } {
  const workers = [...new Set(rows.map((r) => r.workers))].sort((a, b) => a - b);
  const ranked = rows.filter((r) => r.workers === workers[0]).sort((a, b) => b.medianMs - a.medianMs || a.index - b.index).slice(0, TOP_LAYERS);
  const labelW = 300;
  const x0 = 20 + labelW;
  const plotW = width - x0 - 140;
  const maxMs = Math.max(1e-9, ...rows.filter((r) => ranked.some((l) => l.index === r.index)).map((r) => r.medianMs));
  const rowH = workers.length * BAR + GAP;
  const y0 = top + 40;
  const parts: string[] = [`<g class="layer-panel" data-batch="${ranked[0]?.batch ?? ''}" data-policy="${escape(ranked[0]?.policy ?? '')}">`];
  parts.push(text(20, top + 22, title, `font-size="16" font-weight="bold"`));
  ranked.forEach((layer, i) => {
    const y = y0 + i * rowH;
    const label = `${layer.name || `#${layer.index}`} (${layer.opType}${layer.groups && layer.groups > 1 ? `, groups ${layer.groups}` : ''})`;
    const short = label.length > 46 ? `…${label.slice(label.length - 45)}` : label;
    parts.push(text(x0 - 8, y + (workers.length * BAR) / 2 + 4, escape(short), `font-size="11" text-anchor="end"`));
    workers.forEach((w, j) => {
      const r = rows.find((x) => x.workers === w && x.index === layer.index);
      if (!r) return;
      const barW = (r.medianMs / maxMs) * plotW;
      const color = PALETTE[j % PALETTE.length];
      parts.push(
        `<rect class="layer-bar" x="${n(x0)}" y="${n(y + j * BAR)}" width="${n(Math.max(0.5, barW))}" height="${BAR - 1}" fill="${color}" data-layer="${escape(layer.name)}" data-workers="${w}" data-ms="${r.medianMs.toFixed(4)}"><title>${escape(`${label}: ${formatMs(r.medianMs)} ms on ${w} worker${w === 1 ? '' : 's'}`)}</title></rect>`,
      );
    });
  });
  const plotBottom = y0 + ranked.length * rowH;
  parts.push(`<line x1="${n(x0)}" x2="${n(x0)}" y1="${n(y0 - 4)}" y2="${n(plotBottom)}" stroke="#333"/>`);
  parts.push(text(x0 + plotW / 2, plotBottom + 18, `ms per layer (longest ${formatMs(maxMs)} ms)`, `font-size="12" text-anchor="middle"`));
  // Legend: one colour per worker count.
  workers.forEach((w, j) => {
    const ly = y0 + j * 18;
    parts.push(`<rect x="${n(x0 + plotW + 20)}" y="${n(ly)}" width="14" height="10" fill="${PALETTE[j % PALETTE.length]}"/>`);
    parts.push(text(x0 + plotW + 40, ly + 9, `${w} worker${w === 1 ? '' : 's'}`, `font-size="12"`));
  });
  parts.push('</g>');
  return { svg: parts.join('\n'), height: plotBottom - top + 40 };
}
