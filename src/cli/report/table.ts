// The report printed on stdout: the machine, then one table per layer.
import type { MemoryPlanReport } from '../../onnx/memory-plan.js';
import type { BenchReport, MachineInfo, PointResult } from '../bench.js';
import { layerTable } from './layers.js';
import { formatFlops, formatMs, formatPercent, formatRate, formatRatio, textTable, type Column } from './format.js';

const COLUMNS: Column[] = [
  { header: 'groups', align: 'right' },
  { header: 'workers', align: 'right' },
  { header: 'policy', align: 'left' },
  { header: 'median ms', align: 'right' },
  { header: 'GFLOP/s', align: 'right' },
  { header: 'images/s', align: 'right' },
  { header: 'speedup', align: 'right' },
  { header: 'efficiency', align: 'right' },
  { header: 'imbalance', align: 'right' },
  { header: 'overhead', align: 'right' },
  { header: 'runs', align: 'right' },
];

export function machineHeader(machine: MachineInfo): string {
  const kernel = machine.kernel ? `, kernel ${machine.kernel}` : '';
  return `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node} (${machine.platform}-${machine.arch})${kernel}`;
}

export function resultRow(r: PointResult): string[] {
  return [
    r.groups === null ? '-' : String(r.groups),
    String(r.workers),
    r.policy,
    formatMs(r.medianMs),
    formatRate(r.gflops),
    formatRate(r.imagesPerSec),
    formatRatio(r.speedup, 'x'),
    formatPercent(r.efficiency),
    formatRatio(r.imbalance),
    r.overheadShare > 0 && r.overheadShare < 0.0005 ? '<0.1%' : formatPercent(r.overheadShare, 1),
    String(r.runs),
  ];
}

export function formatReport(report: BenchReport): string {
  const out: string[] = [machineHeader(report.machine), ''];
  for (const layer of report.layers) {
    const rows = report.results.filter((r) => r.layer === layer.name);
    const skipped = report.skipped.filter((s) => s.layer === layer.name);
    const batches = [...new Set([...rows.map((r) => r.batch), ...skipped.map((s) => s.batch)])];
    for (const batch of batches) {
      const batchRows = rows.filter((r) => r.batch === batch);
      const work = [...new Map(batchRows.map((r) => [r.groups, r.gflops * r.medianMs * 1e6])).entries()]
        .map(([groups, flops]) => (groups === null ? formatFlops(flops) : `${formatFlops(flops)} at groups ${groups}`))
        .join(', ');
      out.push(`${layer.name}: ${layer.description}`);
      out.push(`  ${layer.shape}, batch ${batch}${layer.kernel ? `, kernel ${layer.kernel}` : ''}${work ? `; per call: ${work}` : ''}`);
      const memory = report.memory?.find((m) => m.batch === batch);
      if (memory) out.push(`  ${memoryLine(memory)}`);
      if (batchRows.length > 0) out.push(textTable(COLUMNS, batchRows.map(resultRow)));
      for (const s of skipped.filter((s) => s.batch === batch)) out.push(`  skipped ${s.groups === null ? `batch ${s.batch}` : `groups ${s.groups}`}: ${s.reason}`);
      for (const policy of [...new Set(batchRows.map((r) => r.policy))]) {
        const layers = (report.breakdown ?? []).filter((l) => l.batch === batch && l.policy === policy);
        if (layers.length === 0) continue;
        out.push('', `  layers by time (batch ${batch}, ${policy}; * = on the calling thread, the rest on the engine):`);
        out.push(layerTable(layers));
      }
      out.push('');
    }
  }
  out.push(
    'speedup: against 1 worker (same groups and policy); efficiency: speedup / workers; imbalance: busiest worker / mean worker busy time;',
    'overhead: share of the wall time outside the busiest worker\'s compute (dispatch, messaging, waiting).',
  );
  return out.join('\n') + '\n';
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

/** The memory plan in one line: the one block a forward allocates against all its activations. */
export function memoryLine(m: MemoryPlanReport): string {
  const share = m.sumBytes > 0 ? ` (${((100 * m.peakBytes) / m.sumBytes).toFixed(0)}%)` : '';
  const chained = m.chainedPeakBytes === null ? '' : `; ${mib(m.chainedPeakBytes)} when images run on several workers at once (chains)`;
  return `memory plan: activations in one ${mib(m.peakBytes)} block${share}, against ${mib(m.sumBytes)} for all ${m.values} of them${chained}; outputs ${mib(m.outputBytes)}`;
}
