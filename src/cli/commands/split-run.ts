// `groupconv split` running a plan that is not AlexNet's channels or data
// split: any zoo model or ONNX file, by its data, pipeline or channels plan,
// on devices (src/devices/model-devices.ts), measured against one device.
import { writeFileSync } from 'node:fs';
import { formatModelRunReport } from '../../devices/model-report.js';
import type { ModelSource } from '../../devices/model-source.js';
import { runModelSplit } from '../../devices/run-model.js';
import type { LinkModel, SplitPlan } from '../../split/plan-types.js';
import type { ModelRun } from '../../devices/model-devices.js';
import type { MeasuredRun } from '../../split/trace.js';
import { writeTraceFiles, type OutputFiles } from './alexnet-run.js';
import type { CliIO } from './command.js';

export interface DeviceRunFlags extends OutputFiles {
  repeat: number;
  warmup: number;
  seed: number;
  baseline: boolean;
  budgetBytes: number;
  link: Partial<LinkModel>;
  microBatches?: number;
}

/**
 * What --trace and --chart draw of a model run: its units as layers, and where
 * the devices computed them when the run has a timeline (data, pipeline).
 */
export function measuredRunOf(run: ModelRun): MeasuredRun {
  const layers = run.layers.map((l) => ({ label: l.label, wallMs: l.wallMs, devices: l.devices.map((d) => ({ computeMs: d.computeMs, linkMs: 0, assembleMs: 0, receivedBytes: d.receivedBytes })) }));
  return run.timeline ? { layers, timeline: run.timeline } : { layers };
}

/** Runs `plan` (already printed) on devices built from `source`, prints the measured run, writes --json, --trace and --chart. */
export async function runPlanOnDevices(plan: SplitPlan, source: ModelSource, flags: DeviceRunFlags, io: CliIO): Promise<number> {
  const { report } = await runModelSplit({
    source,
    devices: plan.devices,
    strategy: plan.strategy,
    batch: plan.batch,
    inputShape: plan.inputShape,
    budgetBytes: flags.budgetBytes,
    link: flags.link,
    ...(flags.microBatches !== undefined ? { microBatches: flags.microBatches } : {}),
    repeat: flags.repeat,
    warmup: flags.warmup,
    seed: flags.seed,
    baseline: flags.baseline,
    log: (line) => io.stderr.write(`${line}\n`),
  });
  io.stdout.write(`\n${formatModelRunReport(report)}\n`);
  writeTraceFiles(plan, flags, io, measuredRunOf(report.run));
  if (flags.json) {
    writeFileSync(flags.json, `${JSON.stringify({ ...report, strategy: plan.strategy, simulatedMs: plan.simulated.ms, plan }, null, 2)}\n`);
    io.stderr.write(`wrote ${flags.json}\n`);
  }
  return 0;
}
