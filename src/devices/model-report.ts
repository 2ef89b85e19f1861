// The text report of a model run on devices (run-model.ts): per layer and
// device the time and the bytes received from other devices, the pipeline's
// stages, memory, measured against simulated time, and what the devices buy
// over one.
import { formatBytes } from './split-model.js';
import type { ModelRunReport } from './run-model.js';

const ms = (n: number) => n.toFixed(1);
const pct = (n: number) => `${(100 * n).toFixed(1)}%`;

export function formatModelRunReport(report: ModelRunReport): string {
  const { run } = report;
  const D = report.devices;
  const lines: string[] = [];
  const micro = { pipeline: `, ${run.microBatches} micro-batches`, data: ', the images shared out', channels: ', each device its channels of every layer' }[report.strategy];
  lines.push(`${report.model} run on ${D} device${D > 1 ? 's' : ''} (${report.strategy}${micro}): batch ${report.batch}, input ${report.inputShape.join('x')}`);
  const width = Math.max(5, ...run.layers.map((l) => l.label.length)) + 2;
  const header = ['layer'.padEnd(width), ...Array.from({ length: D }, (_, d) => `device ${d}: ms`.padStart(16) + 'received'.padStart(11))];
  lines.push(header.join(' |'));
  const cell = (time: number, bytes: number) => (time ? ms(time) : '-').padStart(16) + (bytes ? formatBytes(bytes) : '-').padStart(11);
  for (const l of run.layers) lines.push([l.label.padEnd(width), ...l.devices.map((d) => cell(d.computeMs, d.receivedBytes))].join(' |'));
  const total = (d: number, f: (x: { computeMs: number; receivedBytes: number }) => number) => run.layers.reduce((s, l) => s + f(l.devices[d]), 0);
  lines.push(['total'.padEnd(width), ...Array.from({ length: D }, (_, d) => cell(total(d, (x) => x.computeMs), total(d, (x) => x.receivedBytes)))].join(' |'));
  if (report.strategy === 'pipeline') {
    for (const s of run.stages) {
      const units = s.first === null ? 'no layers' : `${s.first} to ${s.last} (units ${s.units[0]}-${s.units[1] - 1})`;
      lines.push(`stage ${s.device} on device ${s.device}: ${units}, busy ${ms(s.busyMs)} ms, received ${formatBytes(s.receivedBytes)} from ${s.device > 0 ? `device ${s.device - 1}` : 'the host (images, counted below)'}`);
    }
  }
  lines.push(`host: sent ${formatBytes(run.hostInBytes)} of images, received ${formatBytes(run.hostOutBytes)} of outputs`);
  lines.push('memory per device (planned peak; weights held: every device builds the whole model; the measured heap and WebAssembly memory peak):');
  for (const m of report.memory) {
    lines.push(`  device ${m.device}: planned ${formatBytes(m.plannedBytes)}, weights ${formatBytes(m.weightBytes)}, heap ${formatBytes(m.heapUsedBytes)}, wasm peak ${formatBytes(m.arenaPeakBytes)}`);
  }
  const { warmup, timed } = report.passes;
  lines.push(`forward pass: ${ms(report.wallMs)} ms measured, ${ms(report.simulatedMs)} ms simulated (median of ${timed} pass${timed > 1 ? 'es' : ''}${warmup ? ` after ${warmup} warm-up` : ''})`);
  const planned = report.bubble.planned === null ? '' : `planned ${pct(report.bubble.planned)}, `;
  lines.push(`device time idle (bubble): ${planned}measured ${pct(report.bubble.measured)}`);
  if (report.baseline) {
    const rounds = report.roundSpeedups!.map((r) => `${r.toFixed(2)}x`).join(', ');
    if (report.baseline.refused) lines.push(`1 device under the budget: refused (${report.baseline.refused})`);
    lines.push(
      `1 device${report.baseline.refused ? ' (budget lifted to measure it)' : ''}: ${ms(report.baseline.wallMs)} ms; speedup of ${D} devices over 1 on the same batch: ${report.speedup!.toFixed(2)}x (per pass ${rounds})`,
    );
    lines.push(
      report.outputBitwiseEqual
        ? `output: bitwise identical on 1 and ${D} devices`
        : `output: differs between 1 and ${D} devices by at most ${report.outputMaxAbsDiff!.toExponential(2)}`,
    );
  }
  return lines.join('\n');
}
