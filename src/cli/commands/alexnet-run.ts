// AlexNet's channels split run on device threads, shared by `groupconv alexnet`
// and `groupconv split --model alexnet`: the same report, JSON, trace and chart
// from either command, since one is the other's paper example.
import { writeFileSync } from 'node:fs';
import { DeviceMemoryError } from '../../errors.js';
import { formatSplitReport, type SplitReport } from '../../devices/report.js';
import { runAlexNetSplit } from '../../devices/run-split.js';
import type { AlexNet } from '../../models/alexnet.js';
import { timelineSvg } from '../../split/chart.js';
import type { SplitPlan } from '../../split/plan-types.js';
import { splitTrace, type MeasuredRun } from '../../split/trace.js';
import type { CliIO } from './command.js';

/** Where --trace, --chart and --json go (each checked writable by the caller). */
export interface OutputFiles {
  trace?: string;
  chart?: string;
  json?: string;
}

export interface AlexNetChannelsRun {
  seed: number;
  repeat: number;
  warmup: number;
  budgetBytes: number;
  linkGbps: number | undefined;
  latencyUs: number | undefined;
  baseline: boolean;
}

/** The JSON of an AlexNet run: `alexnet --json`'s report, plus the plan's strategy, simulated time and each layer's op, groups and collective. */
export function splitRunJson(report: SplitReport, plan: SplitPlan) {
  const layers = report.run.layers.map((l, i) => {
    const planned = plan.layers[i];
    return { ...l, op: planned.op, ...(planned.groups !== undefined ? { groups: planned.groups } : {}), collective: planned.collective };
  });
  return { ...report, strategy: plan.strategy, simulatedMs: plan.simulated.ms, plan, run: { ...report.run, layers } };
}

/** --trace and --chart: the plan's simulated timeline, or the measured run's layers when there is a run. */
export function writeTraceFiles(plan: SplitPlan, files: OutputFiles, io: CliIO, run?: MeasuredRun): void {
  if (!files.trace && !files.chart) return;
  const trace = splitTrace(plan, run);
  if (files.trace) {
    writeFileSync(files.trace, `${JSON.stringify(trace)}\n`);
    io.stderr.write(`wrote ${files.trace}\n`);
  }
  if (files.chart) {
    const what = run ? 'measured' : 'simulated';
    const title = `${plan.model}, ${plan.strategy} over ${plan.devices} devices, batch ${plan.batch}: ${what}`;
    writeFileSync(files.chart, timelineSvg(trace.traceEvents, title, run ? 2 : 1));
    io.stderr.write(`wrote ${files.chart}\n`);
  }
}

/**
 * Runs `plan` (AlexNet's channels plan) on its devices and prints the split
 * report; exit code 1 with the refusal when a device's memory cannot hold its
 * share, before any pass.
 */
export async function runAlexNetChannels(model: AlexNet, plan: SplitPlan, run: AlexNetChannelsRun, files: OutputFiles, io: CliIO, command: string): Promise<number> {
  try {
    const report = await runAlexNetSplit({
      model,
      devices: plan.devices,
      batch: plan.batch,
      seed: run.seed,
      repeat: run.repeat,
      warmup: run.warmup,
      budgetBytes: run.budgetBytes,
      linkGbps: run.linkGbps,
      linkLatencyUs: run.latencyUs,
      baseline: run.baseline,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`${formatSplitReport(report)}\n`);
    io.stdout.write(`simulated ${plan.simulated.ms.toFixed(1)} ms, measured ${report.wallMs.toFixed(1)} ms\n`);
    writeTraceFiles(plan, files, io, report.run);
    if (files.json) {
      writeFileSync(files.json, `${JSON.stringify(splitRunJson(report, plan), null, 2)}\n`);
      io.stderr.write(`wrote ${files.json}\n`);
    }
    return 0;
  } catch (error) {
    if (error instanceof DeviceMemoryError) {
      io.stderr.write(`groupconv ${command}: refused: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
