// A split plan as text: per layer the collective and the bytes each device
// receives; per device its memory against the budget; the simulated time.
import type { SplitPlan } from './plan-types.js';

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

const ms = (v: number) => `${v.toFixed(2)} ms`;

export function formatPlan(plan: SplitPlan): string {
  const D = plan.devices;
  const lines = [
    `${plan.model}, batch ${plan.batch} of [${plan.inputShape.join(', ')}], ${D} device${D > 1 ? 's' : ''}, strategy ${plan.strategy}: ${plan.reason}`,
    `link ${plan.link.gbps} Gb/s + ${plan.link.latencyUs} µs per transfer; devices simulated at ${plan.deviceGflops} GFLOP/s`,
    '',
  ];
  const width = Math.max(5, ...plan.layers.map((l) => l.label.length));
  const head = ['layer'.padEnd(width), 'op'.padEnd(15), 'collective'.padEnd(12), ...Array.from({ length: D }, (_, d) => `dev ${d} received`.padStart(16))];
  lines.push(head.join(' | '));
  for (const l of plan.layers) {
    const op = l.groups && l.groups > 1 ? `${l.op} g=${l.groups}` : l.op;
    lines.push([l.label.padEnd(width), op.padEnd(15), l.collective.padEnd(12), ...l.devices.map((d) => formatBytes(d.receivedBytes).padStart(16))].join(' | '));
  }
  const total = (d: number) => plan.layers.reduce((s, l) => s + l.devices[d].receivedBytes, 0);
  lines.push(['total'.padEnd(width), ''.padEnd(15), ''.padEnd(12), ...Array.from({ length: D }, (_, d) => formatBytes(total(d)).padStart(16))].join(' | '));
  for (const l of plan.layers) if (l.reason) lines.push(`${l.label}: ${l.reason}`);
  lines.push('');
  const budget = Number.isFinite(plan.budgetBytes) ? formatBytes(plan.budgetBytes) : 'no budget';
  for (const m of plan.memory) {
    lines.push(
      `device ${m.device}: ${formatBytes(m.totalBytes)} (${formatBytes(m.weightBytes)} weights` +
        `${m.transformedWeightBytes ? ` + ${formatBytes(m.transformedWeightBytes)} packed` : ''} + ${formatBytes(m.activationBytes)} activations` +
        `${m.scratchBytes ? ` + ${formatBytes(m.scratchBytes)} scratch` : ''} at ${m.peakLayer}); ` +
        (Number.isFinite(plan.budgetBytes) ? `${m.fits ? 'fits' : 'does NOT fit'} ${budget}` : budget),
    );
  }
  if (plan.pipeline) {
    const stages = plan.pipeline.stages.map(([a, b], d) => `device ${d}: ${plan.layers[a].label}..${plan.layers[b - 1].label}`).join('; ');
    lines.push(`pipeline: ${stages}; ${plan.pipeline.microBatches} micro-batches, bubble ${(100 * plan.pipeline.bubble).toFixed(1)}%`);
  }
  const s = plan.simulated;
  lines.push(`simulated: ${ms(s.ms)} (compute ${ms(s.computeMs)}, transfers ${ms(s.transferMs)}); 1 device ${ms(s.oneDeviceMs)}; speedup ${s.speedup.toFixed(2)}x`);
  return lines.join('\n');
}
