// The per-layer breakdown of `bench --model`: the top layers by time, each with
// its op type, groups and FLOPs, and its time and speedup at each worker count.
import type { LayerBreakdown } from '../bench.js';
import { formatFlops, formatMs, formatRatio, textTable, type Column } from './format.js';

/** Layers listed in the table (the JSON and CSV carry all of them). */
export const TOP_LAYERS = 12;

/** The breakdown's fields, in the order the JSON records and the CSV's second table use. */
export const LAYER_FIELDS = [
  'batch',
  'policy',
  'workers',
  'index',
  'name',
  'opType',
  'kind',
  'groups',
  'flops',
  'medianMs',
  'kernelMs',
  'handoffMs',
  'speedup',
] as const satisfies readonly (keyof LayerBreakdown)[];

const shorten = (name: string, width = 36) => (name.length <= width ? name : `…${name.slice(name.length - width + 1)}`);

/**
 * The breakdown of one batch and policy as a table: layers ranked by their time
 * at the fewest workers measured, the rest summed in a last line.
 */
export function layerTable(rows: readonly LayerBreakdown[], top = TOP_LAYERS): string {
  const workers = [...new Set(rows.map((r) => r.workers))].sort((a, b) => a - b);
  const first = rows.filter((r) => r.workers === workers[0]).sort((a, b) => b.medianMs - a.medianMs || a.index - b.index);
  const shown = first.slice(0, top);
  const columns: Column[] = [
    { header: 'layer', align: 'left' },
    { header: 'op', align: 'left' },
    { header: 'groups', align: 'right' },
    { header: 'FLOPs', align: 'right' },
    ...workers.flatMap((w): Column[] => [
      { header: `ms @${w}`, align: 'right' },
      { header: `x @${w}`, align: 'right' },
    ]),
  ];
  const table = shown.map((layer) => {
    const at = (w: number) => rows.find((r) => r.workers === w && r.index === layer.index);
    return [
      shorten(layer.name || `#${layer.index}`),
      `${layer.opType}${layer.kind === 'host' ? '*' : ''}`,
      layer.groups === null ? '' : String(layer.groups),
      layer.flops > 0 ? formatFlops(layer.flops) : '',
      ...workers.flatMap((w) => {
        const r = at(w);
        return [r ? formatMs(r.medianMs) : '-', formatRatio(r?.speedup ?? null, 'x')];
      }),
    ];
  });
  const lines = [textTable(columns, table)];
  const rest = first.slice(top);
  if (rest.length > 0) {
    const sum = (w: number) => rows.filter((r) => r.workers === w && rest.some((x) => x.index === r.index)).reduce((s, r) => s + r.medianMs, 0);
    lines.push(`  ... ${rest.length} more layers: ${workers.map((w) => `${formatMs(sum(w))} ms @${w}`).join(', ')}`);
  }
  return lines.join('\n');
}
