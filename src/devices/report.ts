// The split's report: per layer, what each device holds and spends, what
// crosses between devices, and what two devices buy over one.
import { median } from '../statistics.js';
import { formatBytes, type SplitRun } from './split-model.js';
import type { DevicePiece } from './split-plan.js';

export interface SplitReport {
  model: { parameters: number; channels: number[]; hidden: number; classes: number };
  batch: number;
  inputSize: number;
  budgetBytes: number;
  linkGbps: number | null;
  /** Median wall time of the forward pass over the timed passes, in ms. */
  wallMs: number;
  /** Untimed passes before the timed ones (compiling and planning happen in the first), and timed passes. */
  passes: { warmup: number; timed: number };
  run: SplitRun;
  /** Parameters and weight bytes of each device, whole model. */
  deviceWeights: { parameters: number; weightBytes: number }[];
  /** The one-device run of the same batch, when measured. */
  baseline: {
    wallMs: number;
    run: SplitRun;
    /** Why one device cannot hold the model under the budget (the refusal), if it cannot. */
    refused: string | null;
  } | null;
  /** Baseline wall time over this run's; null without a baseline. */
  speedup: number | null;
  /**
   * Each timed round's baseline wall time over its split pass (they alternate),
   * so a load that comes and goes shows as the rounds' spread; null without a baseline.
   */
  roundSpeedups: number[] | null;
  /** Largest |difference| between this run's logits and the baseline's, and whether they are bitwise equal. */
  logitsMaxAbsDiff: number | null;
  logitsBitwiseEqual: boolean | null;
}

const int = (n: number) => n.toLocaleString('en-US');
const ms = (n: number) => n.toFixed(1);
const pad = (s: string, width: number) => s.padStart(width);

export function deviceWeightTotals(pieces: readonly DevicePiece[][]): { parameters: number; weightBytes: number }[] {
  return pieces.map((own) => {
    const parameters = own.reduce((sum, p) => sum + p.parameters, 0);
    return { parameters, weightBytes: parameters * 4 };
  });
}

/** Median of the per-round ratios and their range, e.g. "median 1.62x (1.48-1.80x over 5 rounds)". */
function roundSummary(ratios: readonly number[]): string {
  const sorted = [...ratios].sort((a, b) => a - b);
  return `median ${median(sorted).toFixed(2)}x (${sorted[0].toFixed(2)}-${sorted[sorted.length - 1].toFixed(2)}x over ${sorted.length} round${sorted.length > 1 ? 's' : ''})`;
}

/** The report as text, one row per layer. */
export function formatSplitReport(report: SplitReport): string {
  const { run } = report;
  const D = run.devices;
  const lines: string[] = [];
  const link = report.linkGbps === null ? 'link unlimited' : `link ${report.linkGbps} Gbit/s (simulated)`;
  lines.push(
    `AlexNet (${int(report.model.parameters)} parameters) on ${D} device${D > 1 ? 's' : ''}: batch ${report.batch}, input ${report.inputSize}x${report.inputSize}, ` +
      `budget ${formatBytes(report.budgetBytes)} per device, ${link}, kernel ${run.kernels.join('+') || 'none'}`,
  );
  const deviceHeader = (d: number) => pad(`device ${d}: params`, 18) + pad('weights', 11) + pad('ms', 9) + pad('received', 11);
  lines.push(['layer'.padEnd(14) + 'op'.padEnd(9), ...Array.from({ length: D }, (_, d) => deviceHeader(d)), pad('wall ms', 9)].join(' |'));
  const cells = (params: number, weights: number, time: number, received: number) =>
    pad(int(params), 18) + pad(weights ? formatBytes(weights) : '-', 11) + pad(ms(time), 9) + pad(received ? formatBytes(received) : '-', 11);
  for (const layer of run.layers) {
    const devices = layer.devices.map((d) => cells(d.parameters, d.weightBytes, d.computeMs + d.assembleMs, d.receivedBytes));
    lines.push([layer.name.padEnd(14) + layer.label.padEnd(9), ...devices, pad(ms(layer.wallMs), 9)].join(' |'));
  }
  const totals = Array.from({ length: D }, (_, d) => {
    const sum = (f: (l: (typeof run.layers)[number]['devices'][number]) => number) => run.layers.reduce((s, l) => s + f(l.devices[d]), 0);
    return cells(sum((l) => l.parameters), sum((l) => l.weightBytes), sum((l) => l.computeMs + l.assembleMs), sum((l) => l.receivedBytes));
  });
  lines.push(['total'.padEnd(23), ...totals, pad(ms(run.layers.reduce((s, l) => s + l.wallMs, 0)), 9)].join(' |'));
  lines.push('');

  const exchanged = run.exchangedBytes.reduce((a, b) => a + b, 0);
  if (D > 1) {
    const byLayer = run.layers
      .map((l) => ({ label: l.label, bytes: l.devices.reduce((s, d) => s + d.receivedBytes, 0), link: Math.max(...l.devices.map((d) => d.linkMs)) }))
      .filter((l) => l.bytes > 0);
    lines.push(
      `exchanged between devices: ${formatBytes(exchanged)} (${run.exchangedBytes.map((b, d) => `device ${d} received ${formatBytes(b)}`).join(', ')}); ` +
        `by layer: ${byLayer.map((l) => `${l.label} ${formatBytes(l.bytes)}`).join(', ')}`,
    );
    if (report.linkGbps !== null) {
      lines.push(`simulated link time (slowest device per layer): ${ms(byLayer.reduce((s, l) => s + l.link, 0))} ms at ${report.linkGbps} Gbit/s`);
    }
  } else lines.push('exchanged between devices: none (one device)');
  lines.push(`host: sent ${formatBytes(run.hostInBytes)} of images (the whole batch to every device), received ${formatBytes(run.hostOutBytes)} of logits`);
  lines.push('peak memory per device (resident weights + the largest layer working set: input read + output written + kernel scratch):');
  for (const m of run.memory) {
    const scratch = m.scratchBytes ? ` + ${formatBytes(m.scratchBytes)} kernel scratch` : '';
    const transformed = m.transformedWeightBytes ? ` + ${formatBytes(m.transformedWeightBytes)} Winograd weights` : '';
    lines.push(
      `  device ${m.device}: ${formatBytes(m.totalBytes)} = ${formatBytes(m.weightBytes)} weights${transformed} + ${formatBytes(m.activationBytes)} activations${scratch} at ${m.peakLayer}` +
        ` (${((100 * m.totalBytes) / report.budgetBytes).toFixed(1)}% of ${formatBytes(report.budgetBytes)});` +
        ` measured peak of its own memory: ${formatBytes(run.memoryPeakBytes[m.device])}`,
    );
  }
  const { warmup, timed } = report.passes;
  lines.push(`forward pass: ${ms(report.wallMs)} ms on ${D} device${D > 1 ? 's' : ''} (median of ${timed} pass${timed > 1 ? 'es' : ''}${warmup ? ` after ${warmup} untimed` : ', the first one cold'})`);
  if (report.baseline) {
    if (report.baseline.refused) lines.push(`1 device under the budget: refused (${report.baseline.refused})`);
    lines.push(
      `1 device${report.baseline.refused ? ' (budget lifted to measure it)' : ''}: ${ms(report.baseline.wallMs)} ms; ` +
        `speedup of ${D} devices over 1 on the same batch: ${report.speedup!.toFixed(2)}x` +
        (report.roundSpeedups?.length ? `; per round ${roundSummary(report.roundSpeedups)}` : ''),
    );
    lines.push(
      report.logitsBitwiseEqual
        ? `logits: bitwise identical on 1 and ${D} devices`
        : `logits: differ between 1 and ${D} devices by at most ${report.logitsMaxAbsDiff!.toExponential(2)}`,
    );
  }
  return lines.join('\n');
}
