// --chart: a self-contained SVG. One panel per layer plots speedup against
// workers for each groups setting (with the ideal line and the machine's core
// count marked); a Gantt chart below shows one representative run: which group
// ran on which worker thread, and when. With --model, a panel per batch shows
// time by layer at each worker count (layers-svg.ts).
import type { BenchReport, PointResult, Timeline } from '../bench.js';
import { formatMs } from './format.js';
import { layerTimePanel } from './layers-svg.js';

const WIDTH = 960;
const MARGIN = { left: 70, right: 230, top: 40, bottom: 50 };
const PANEL_HEIGHT = 300;
const ROW_HEIGHT = 34;
/** Below the last legend line: its descenders, and a little air. */
const LEGEND_PAD = 10;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
const FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const n = (x: number) => (Math.round(x * 100) / 100).toString();

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}" ${attrs}>${escapeXml(content)}</text>`;
}

/** A tick label with as many decimals as the tick step needs ("0", "2.5", "0.25"). */
export function tickLabel(value: number, ticks: readonly number[]): string {
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return value.toFixed(decimals);
}

/** Round tick values covering [0, max]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

interface Series {
  key: string;
  label: string;
  /** null for a whole model. */
  groups: number | null;
  policy: string;
  points: Array<{ workers: number; speedup: number }>;
}

function seriesOf(results: PointResult[]): Series[] {
  const byKey = new Map<string, Series>();
  for (const r of results) {
    if (r.speedup === null) continue;
    const key = `${r.groups}/${r.policy}`;
    let s = byKey.get(key);
    if (!s) {
      s = { key, label: r.groups === null ? r.policy : `groups ${r.groups}, ${r.policy}`, groups: r.groups, policy: r.policy, points: [] };
      byKey.set(key, s);
    }
    s.points.push({ workers: r.workers, speedup: r.speedup });
  }
  for (const s of byKey.values()) s.points.sort((a, b) => a.workers - b.workers);
  return [...byKey.values()];
}

function speedupPanel(top: number, title: string, layer: string, batch: number, results: PointResult[], cores: number): string {
  const parts: string[] = [];
  const series = seriesOf(results);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - 90;
  const x0 = MARGIN.left;
  const y0 = top + 40;
  const maxWorkers = Math.max(1, ...results.map((r) => r.workers));
  const maxSpeedup = Math.max(maxWorkers, ...series.flatMap((s) => s.points.map((p) => p.speedup)));
  const yTicks = niceTicks(maxSpeedup, 5);
  const yMax = yTicks[yTicks.length - 1];
  // Workers from 0.5 to max + 0.5 so the first and last points sit inside the frame.
  const sx = (w: number) => x0 + ((w - 0.5) / maxWorkers) * plotW;
  const sy = (s: number) => y0 + plotH - (s / yMax) * plotH;

  parts.push(`<g class="speedup-panel" data-layer="${escapeXml(layer)}" data-batch="${batch}">`);
  parts.push(text(x0, top + 22, title, `font-size="16" font-weight="bold"`));
  // Oversubscribed region: more workers than cores.
  if (maxWorkers > cores) {
    const xa = sx(cores + 0.5);
    parts.push(`<rect class="oversubscribed" x="${n(xa)}" y="${n(y0)}" width="${n(x0 + plotW - xa)}" height="${n(plotH)}" fill="#f3f3f3"/>`);
    parts.push(text(x0 + plotW - 6, y0 + 16, `more workers than ${cores} cores`, `font-size="11" fill="#777" text-anchor="end"`));
  }
  for (const t of yTicks) {
    parts.push(`<line x1="${n(x0)}" x2="${n(x0 + plotW)}" y1="${n(sy(t))}" y2="${n(sy(t))}" stroke="#e2e2e2"/>`);
    parts.push(text(x0 - 8, sy(t) + 4, `${tickLabel(t, yTicks)}x`, `font-size="12" text-anchor="end" fill="#333"`));
  }
  for (let w = 1; w <= maxWorkers; w++) {
    parts.push(`<line x1="${n(sx(w))}" x2="${n(sx(w))}" y1="${n(y0 + plotH)}" y2="${n(y0 + plotH + 5)}" stroke="#333"/>`);
    parts.push(text(sx(w), y0 + plotH + 19, String(w), `font-size="12" text-anchor="middle" fill="#333"`));
  }
  parts.push(`<rect x="${n(x0)}" y="${n(y0)}" width="${n(plotW)}" height="${n(plotH)}" fill="none" stroke="#333"/>`);
  parts.push(text(x0 + plotW / 2, y0 + plotH + 38, 'workers', `font-size="13" text-anchor="middle"`));
  parts.push(text(x0 - 48, y0 + plotH / 2, 'speedup vs 1 worker', `font-size="13" text-anchor="middle" transform="rotate(-90 ${n(x0 - 48)} ${n(y0 + plotH / 2)})"`));

  // Ideal: speedup = workers up to the core count, flat after (no more cores to use).
  const ideal = Array.from({ length: maxWorkers }, (_, i) => i + 1).map((w) => `${n(sx(w))},${n(sy(Math.min(w, cores)))}`);
  parts.push(`<polyline class="ideal" points="${ideal.join(' ')}" fill="none" stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"/>`);

  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const points = s.points.map((p) => `${n(sx(p.workers))},${n(sy(p.speedup))}`).join(' ');
    parts.push(`<g class="series" data-groups="${s.groups}" data-policy="${escapeXml(s.policy)}">`);
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2.5"/>`);
    for (const p of s.points) {
      parts.push(
        `<circle cx="${n(sx(p.workers))}" cy="${n(sy(p.speedup))}" r="4.5" fill="${color}" data-workers="${p.workers}" data-speedup="${p.speedup.toFixed(4)}"><title>${escapeXml(`${s.label}: ${p.workers} workers, ${p.speedup.toFixed(2)}x`)}</title></circle>`,
      );
    }
    parts.push('</g>');
  });

  // Legend, right of the plot.
  const lx = x0 + plotW + 20;
  let ly = y0 + 10;
  const legend: Array<[string, string, boolean]> = [...series.map((s, i) => [s.label, PALETTE[i % PALETTE.length], false] as [string, string, boolean]), [`ideal (up to ${cores} cores)`, '#888', true]];
  parts.push('<g class="legend">');
  for (const [label, color, dashed] of legend) {
    parts.push(`<line x1="${n(lx)}" x2="${n(lx + 26)}" y1="${n(ly)}" y2="${n(ly)}" stroke="${color}" stroke-width="${dashed ? 1.5 : 2.5}"${dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(text(lx + 32, ly + 4, label, `font-size="12"`));
    ly += 20;
  }
  if (series.length === 0) parts.push(text(x0 + 10, y0 + 24, 'no speedup to plot: measure 1 worker too (--workers 1,...)', `font-size="12" fill="#a00"`));
  parts.push('</g></g>');
  return parts.join('\n');
}

/** The timeline worth showing: the most groups on the most workers that still have a core each. */
export function representativeTimeline(report: BenchReport): Timeline | null {
  const candidates = report.timelines.filter((t) => t.tasks.length > 0);
  if (candidates.length === 0) return null;
  const cores = report.machine.cores;
  const score = (t: Timeline) => [t.workers <= cores ? t.workers : -t.workers, t.groups, t.policy === 'group' ? 1 : 0];
  return candidates.reduce((best, t) => {
    const a = score(t);
    const b = score(best);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i] ? t : best;
    return best;
  });
}

function taskLabel(t: Timeline['tasks'][number], timeline: Timeline): string {
  const parts = [t.groupEnd - t.groupStart === 1 ? `group ${t.groupStart}` : `groups ${t.groupStart}-${t.groupEnd - 1}`];
  // A task that holds only part of its group(s) says which channels or images.
  const channelsPerGroup = timeline.outChannels / timeline.groups;
  const whole = t.outChannelStart === t.groupStart * channelsPerGroup && t.outChannelEnd === t.groupEnd * channelsPerGroup;
  if (!whole) parts.push(`ch ${t.outChannelStart}-${t.outChannelEnd - 1}`);
  if (t.batchEnd - t.batchStart < timeline.batch) parts.push(`img ${t.batchStart}-${t.batchEnd - 1}`);
  return parts.join(', ');
}

function ganttPanel(top: number, timeline: Timeline): { svg: string; height: number } {
  const threads = [...new Set(timeline.tasks.map((t) => t.threadId))].sort((a, b) => a - b);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const x0 = MARGIN.left + 40;
  const y0 = top + 48;
  const width = plotW - 40;
  const plotH = threads.length * ROW_HEIGHT;
  const end = Math.max(timeline.wallMs, ...timeline.tasks.map((t) => t.endMs));
  const ticks = niceTicks(end, 6);
  const tMax = ticks[ticks.length - 1];
  const sx = (ms: number) => x0 + (ms / tMax) * width;
  const parts: string[] = [];
  parts.push(`<g class="gantt" data-layer="${escapeXml(timeline.layer)}" data-groups="${timeline.groups}" data-workers="${timeline.workers}" data-policy="${escapeXml(timeline.policy)}">`);
  parts.push(
    text(
      MARGIN.left,
      top + 22,
      `One run of ${timeline.layer} (batch ${timeline.batch}, groups ${timeline.groups}, ${timeline.workers} workers, ${timeline.policy}): ${formatMs(timeline.wallMs)} ms`,
      `font-size="16" font-weight="bold"`,
    ),
  );
  parts.push(text(MARGIN.left, top + 40, 'Each bar is one task on a worker thread, coloured by its first group; grey: waiting in the queue; dashed: the call\'s end.', `font-size="12" fill="#555"`));
  for (const t of ticks) {
    parts.push(`<line x1="${n(sx(t))}" x2="${n(sx(t))}" y1="${n(y0)}" y2="${n(y0 + plotH)}" stroke="#e2e2e2"/>`);
    parts.push(text(sx(t), y0 + plotH + 18, tickLabel(t, ticks), `font-size="12" text-anchor="middle" fill="#333"`));
  }
  threads.forEach((thread, row) => {
    const y = y0 + row * ROW_HEIGHT;
    parts.push(text(x0 - 8, y + ROW_HEIGHT / 2 + 4, `worker ${row + 1}`, `font-size="12" text-anchor="end"`));
    parts.push(text(x0 - 8, y + ROW_HEIGHT / 2 + 16, `thread ${thread}`, `font-size="9" text-anchor="end" fill="#777"`));
  });
  for (const task of timeline.tasks) {
    const row = threads.indexOf(task.threadId);
    const y = y0 + row * ROW_HEIGHT + 5;
    const xa = sx(task.startMs);
    const w = Math.max(1, sx(task.endMs) - xa);
    const color = PALETTE[task.groupStart % PALETTE.length];
    const label = taskLabel(task, timeline);
    // The wait between handing the task to the pool and a worker starting it.
    const queuedFrom = Math.max(0, task.startMs - task.queueWaitMs);
    if (sx(task.startMs) - sx(queuedFrom) >= 1) {
      const ym = y + (ROW_HEIGHT - 10) / 2;
      parts.push(`<line class="queued" x1="${n(sx(queuedFrom))}" x2="${n(xa)}" y1="${n(ym)}" y2="${n(ym)}" stroke="#999" stroke-width="2"/>`);
    }
    parts.push(
      `<rect class="task" x="${n(xa)}" y="${n(y)}" width="${n(w)}" height="${ROW_HEIGHT - 10}" fill="${color}" fill-opacity="0.85" stroke="#fff" data-thread="${task.threadId}" data-group-start="${task.groupStart}" data-group-end="${task.groupEnd}" data-start-ms="${task.startMs.toFixed(3)}" data-end-ms="${task.endMs.toFixed(3)}"><title>${escapeXml(`${label}: ${formatMs(task.startMs)}-${formatMs(task.endMs)} ms (compute ${formatMs(task.computeMs)} ms, queued ${formatMs(task.queueWaitMs)} ms)`)}</title></rect>`,
    );
    // Label only bars wide enough to hold it.
    if (w > label.length * 6.5 + 8) parts.push(text(xa + 5, y + (ROW_HEIGHT - 10) / 2 + 4, label, `font-size="11" fill="#fff"`));
  }
  parts.push(`<line class="wall" x1="${n(sx(timeline.wallMs))}" x2="${n(sx(timeline.wallMs))}" y1="${n(y0 - 4)}" y2="${n(y0 + plotH + 4)}" stroke="#333" stroke-dasharray="4 3"/>`);
  parts.push(`<rect x="${n(x0)}" y="${n(y0)}" width="${n(width)}" height="${n(plotH)}" fill="none" stroke="#333"/>`);
  parts.push(text(x0 + width / 2, y0 + plotH + 36, 'time since the call started (ms)', `font-size="13" text-anchor="middle"`));
  // Legend: one swatch per colour actually used.
  const used = [...new Set(timeline.tasks.map((t) => t.groupStart % PALETTE.length))].sort((a, b) => a - b);
  let ly = y0 + 8;
  const lx = x0 + width + 20;
  for (const c of used) {
    const groupsOfColor = [...new Set(timeline.tasks.filter((t) => t.groupStart % PALETTE.length === c).map((t) => t.groupStart))].sort((a, b) => a - b);
    const label = groupsOfColor.length <= 3 ? `group ${groupsOfColor.join(', ')}` : `groups ${groupsOfColor[0]}, ${groupsOfColor[1]}, ...`;
    parts.push(`<rect x="${n(lx)}" y="${n(ly - 9)}" width="14" height="12" fill="${PALETTE[c]}"/>`);
    parts.push(text(lx + 20, ly + 1, label, `font-size="12"`));
    ly += 18;
  }
  parts.push(`<line x1="${n(lx)}" x2="${n(lx + 14)}" y1="${n(ly - 3)}" y2="${n(ly - 3)}" stroke="#999" stroke-width="2"/>`);
  parts.push(text(lx + 20, ly + 1, 'queued', `font-size="12"`));
  parts.push('</g>');
  // The legend (up to one entry per palette colour, then 'queued') can be taller
  // than a few workers' rows: the panel grows to hold it, or the SVG cuts it off.
  const legendBottom = ly + LEGEND_PAD - y0;
  return { svg: parts.join('\n'), height: 48 + Math.max(plotH + 50, legendBottom) };
}

export function toSvg(report: BenchReport): string {
  const body: string[] = [];
  let y = MARGIN.top;
  const m = report.machine;
  body.push(text(MARGIN.left, 26, `groupconv bench: ${m.cpu}, ${m.cores} cores, Node ${m.node}${m.kernel ? `, kernel ${m.kernel}` : ''}`, `font-size="13" fill="#555"`));
  for (const layer of report.layers) {
    const rows = report.results.filter((r) => r.layer === layer.name);
    for (const batch of [...new Set(rows.map((r) => r.batch))]) {
      body.push(speedupPanel(y, `${layer.name} (${layer.shape}, batch ${batch}): speedup against workers`, layer.name, batch, rows.filter((r) => r.batch === batch), m.cores));
      y += PANEL_HEIGHT;
    }
  }
  // --model: time by layer at each worker count, per batch and policy.
  const breakdown = report.breakdown ?? [];
  for (const batch of [...new Set(breakdown.map((l) => l.batch))]) {
    for (const policy of [...new Set(breakdown.map((l) => l.policy))]) {
      const rows = breakdown.filter((l) => l.batch === batch && l.policy === policy);
      if (rows.length === 0) continue;
      const panel = layerTimePanel(y, WIDTH, `${report.layers[0]?.name ?? 'model'} (batch ${batch}, ${policy}): time by layer`, rows, escapeXml, text);
      body.push(panel.svg);
      y += panel.height;
    }
  }
  const timeline = representativeTimeline(report);
  if (timeline) {
    const gantt = ganttPanel(y, timeline);
    body.push(gantt.svg);
    y += gantt.height;
  }
  const height = Math.ceil(y + 20);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
