// Command-line parsing for `groupconv bench`: flags to a checked BenchConfig.
// Every mistake becomes an ArgumentError naming the flag, which main() prints
// as one line with exit code 2.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { errors, type ArgumentError } from '../errors.js';
import { PARTITION_POLICIES, type PartitionPolicy } from '../scheduler/conv-tasks.js';
import { PRESET_NAMES, findPreset, type LayerPreset } from './presets.js';


export interface MeasureSettings {
  /** Warm-up time per point, ms. */
  warmupMs: number;
  /** Stop only after at least this many timed runs... */
  minRuns: number;
  /** ...and at least this much timed time, ms, unless the budget runs out. */
  minTimeMs: number;
  /** The whole sweep's time budget for timed runs, ms: points get an equal share of what is left. */
  budgetMs: number;
}

export interface BenchConfig {
  layers: LayerPreset[];
  /** `--model FILE.onnx`: benchmark that model instead of layers (then `layers` is empty). */
  model: string | null;
  /** `--size` with --model: the size of the model input's symbolic height and width; null when not given. */
  size: number | null;
  /** Groups to sweep; null means each layer's own default. */
  groups: number[] | null;
  /** Batch sizes to sweep; null means each layer's own batch. */
  batches: number[] | null;
  workers: number[];
  policies: PartitionPolicy[];
  json: string | null;
  csv: string | null;
  chart: string | null;
  /** `--calling-thread` with --model: the calling thread is one of a forward's runners (GroupedConvEngineOptions.callingThread). */
  callingThread: boolean;
  measure: MeasureSettings;
}

export const DEFAULT_MEASURE: MeasureSettings = { warmupMs: 300, minRuns: 5, minTimeMs: 1000, budgetMs: 75_000 };

/** 1, 2, ... up to the machine's parallelism, plus one more to show oversubscription. */
export function defaultWorkerCounts(cores = availableParallelism()): number[] {
  return Array.from({ length: cores + 1 }, (_, i) => i + 1);
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  layer: { type: 'string' },
  model: { type: 'string' },
  'calling-thread': { type: 'boolean' },
  cin: { type: 'string' },
  cout: { type: 'string' },
  kernel: { type: 'string' },
  stride: { type: 'string' },
  padding: { type: 'string' },
  dilation: { type: 'string' },
  size: { type: 'string' },
  groups: { type: 'string' },
  batch: { type: 'string' },
  workers: { type: 'string' },
  policy: { type: 'string' },
  json: { type: 'string' },
  csv: { type: 'string' },
  chart: { type: 'string' },
  warmup: { type: 'string' },
  'min-runs': { type: 'string' },
  'min-time': { type: 'string' },
  budget: { type: 'string' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export const BENCH_USAGE = `Usage: groupconv bench [options]

Times a grouped convolution on the engine at several worker counts and reports
what the per-group parallelism buys on this machine.

Layer (default: alexnet-conv2, groups 1 and 2):
  --layer NAME[,NAME...]   presets: ${PRESET_NAMES.join(', ')}
  --cin N --cout N --kernel N --stride N --padding N --dilation N --size N
                           a custom layer (--cin required; defaults: cout = cin, kernel 3,
                           stride 1, padding 0, dilation 1, size 28, batch 8); with
                           --layer these override the preset's fields
Model (instead of a layer):
  --model FILE.onnx        time the whole model (forwardWith: every Conv on the engine) and
                           break its time down by layer; --size N gives a symbolic height/width
  --calling-thread         with --model: the calling thread is one of a forward's runners, as
                           onnxruntime-node's session.run computes on the thread that calls it
Sweeps:
  --groups LIST            e.g. 1,2,4,8,32 (values that do not divide the channels are skipped)
  --workers LIST           e.g. 1,2,4 (default: 1 .. cores + 1)
  --policy LIST            group, balanced (default: balanced)
  --batch LIST             images per call (default: the layer's, 8; a model's fixed batch, else 1)
Measurement:
  --warmup MS              warm-up time per point (default ${DEFAULT_MEASURE.warmupMs})
  --min-runs N             timed runs per point, at least (default ${DEFAULT_MEASURE.minRuns});
                           a case's points are timed interleaved, in turns of about 20 ms
  --min-time MS            timed time per point, at least (default ${DEFAULT_MEASURE.minTimeMs})
  --budget S               time budget for the whole sweep's timed runs; a point whose runs
                           are slow gets fewer runs (never fewer than 1) (default ${DEFAULT_MEASURE.budgetMs / 1000})
Output:
  --json FILE              results as JSON
  --csv FILE               results as CSV
  --chart FILE.svg         speedup chart and a per-worker timeline
  -h, --help               this help
`;

export type ParsedBench = { help: true } | { help: false; config: BenchConfig };

const bad = (flag: string, message: string) => errors.badFlag(`--${flag}`, message);

function integer(flag: string, text: string, minimum: number): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < minimum) {
    throw bad(flag, `expected ${minimum === 0 ? 'a non-negative' : 'a positive'} integer, got '${text}'`);
  }
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw bad(flag, `${text} is too large`);
  return value;
}

function positiveNumber(flag: string, text: string, allowZero: boolean): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw bad(flag, `expected a ${allowZero ? 'non-negative' : 'positive'} number, got '${text}'`);
  }
  return value;
}

function integerList(flag: string, text: string): number[] {
  const items = text.split(',');
  if (items.some((item) => item.trim() === '')) throw bad(flag, `expected a comma-separated list of positive integers, got '${text}'`);
  const values = items.map((item) => {
    if (!/^\s*\d+\s*$/.test(item) || Number(item) < 1) {
      const where = items.length > 1 ? ` in '${text}'` : '';
      throw bad(flag, `expected a comma-separated list of positive integers, got '${item.trim()}'${where}`);
    }
    return integer(flag, item, 1);
  });
  return [...new Set(values)];
}

function parsePolicies(text: string): PartitionPolicy[] {
  const values = text.split(',').map((s) => s.trim());
  for (const value of values) {
    if (!(PARTITION_POLICIES as readonly string[]).includes(value)) {
      throw bad('policy', `unknown policy '${value}' (known: ${PARTITION_POLICIES.join(', ')})`);
    }
  }
  return [...new Set(values)] as PartitionPolicy[];
}

function parseLayers(values: Values): LayerPreset[] {
  const shapeFlags = ['cin', 'cout', 'kernel', 'stride', 'padding', 'dilation', 'size'] as const;
  const given = shapeFlags.filter((flag) => values[flag] !== undefined);
  let bases: LayerPreset[];
  if (values.layer !== undefined) {
    const names = values.layer.split(',').map((s) => s.trim());
    bases = names.map((name) => {
      const found = findPreset(name);
      if (!found) throw bad('layer', `unknown layer '${name}' (presets: ${PRESET_NAMES.join(', ')})`);
      return found;
    });
  } else if (given.length > 0) {
    if (values.cin === undefined) throw bad('cin', `a custom layer needs --cin (or pick a preset with --layer)`);
    const cin = integer('cin', values.cin, 1);
    // Groups are not part of the shape: --groups sweeps them (1 when not given).
    bases = [{ name: 'custom', inChannels: cin, outChannels: cin, kernel: 3, stride: 1, padding: 0, dilation: 1, groups: 1, size: 28, batch: 8, defaultGroups: [1], description: 'a custom layer' }];
  } else {
    bases = [findPreset('alexnet-conv2')!];
  }
  if (given.length === 0) return bases;
  const overrides: Partial<LayerPreset> = {};
  if (values.cin !== undefined) overrides.inChannels = integer('cin', values.cin, 1);
  if (values.cout !== undefined) overrides.outChannels = integer('cout', values.cout, 1);
  if (values.kernel !== undefined) overrides.kernel = integer('kernel', values.kernel, 1);
  if (values.stride !== undefined) overrides.stride = integer('stride', values.stride, 1);
  if (values.padding !== undefined) overrides.padding = integer('padding', values.padding, 0);
  if (values.dilation !== undefined) overrides.dilation = integer('dilation', values.dilation, 1);
  if (values.size !== undefined) overrides.size = integer('size', values.size, 1);
  return bases.map((base) => {
    const layer = { ...base, ...overrides };
    // A preset whose shape changed is no longer that preset: say so in its name.
    if (base.name !== 'custom') layer.name = `${base.name}*`;
    checkLayerFits(layer);
    return layer;
  });
}

/** A kernel larger than the padded input has no output: reject it here, with the flags' names. */
function checkLayerFits(layer: LayerPreset): void {
  const effective = layer.dilation * (layer.kernel - 1) + 1;
  const padded = layer.size + 2 * layer.padding;
  if (effective > padded) {
    throw bad('kernel', `the kernel (${effective}x${effective} with dilation ${layer.dilation}) is larger than the padded input (${padded}x${padded})`);
  }
}

function translateParseError(error: unknown): ArgumentError {
  const e = error as { code?: string; message?: string };
  const message = String(e.message ?? error);
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = /'([^']+)'/.exec(message)?.[1] ?? message;
      return errors.badFlag(flag, `unknown option (see groupconv bench --help)`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const flag = /--[\w-]+/.exec(message)?.[0] ?? 'option';
      if (/ambiguous/.test(message)) return errors.badFlag(flag, `needs a value (one starting with '-' is written ${flag}=VALUE)`);
      if (/does not take an argument/.test(message)) return errors.badFlag(flag, 'takes no value');
      return errors.badFlag(flag, 'needs a value');
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /'([^']*)'/.exec(message)?.[1] ?? '';
      return errors.badFlag('bench', `unexpected argument '${arg}' (options start with --)`);
    }
    default:
      return errors.badFlag('bench', message.split('\n')[0]);
  }
}

/** Parses `groupconv bench`'s arguments (without the subcommand itself). */
export function parseBenchArgs(argv: readonly string[], cores = availableParallelism()): ParsedBench {
  let values: Values;
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values as Values;
  } catch (error) {
    throw translateParseError(error);
  }
  if (values.help) return { help: true };
  for (const [key, value] of Object.entries(values)) {
    if (typeof value === 'string' && value.trim() === '') throw bad(key, 'needs a value, got an empty string');
  }

  const model = values.model ?? null;
  if (model !== null) {
    const layerFlags = ['layer', 'cin', 'cout', 'kernel', 'stride', 'padding', 'dilation', 'groups'] as const;
    const clash = layerFlags.find((flag) => values[flag] !== undefined);
    if (clash) throw bad(clash, `describes a layer; --model times the model's own layers`);
  }
  if (model === null && values['calling-thread']) throw bad('calling-thread', "applies to --model only: a layer's calls always go to the workers");
  const layers = model === null ? parseLayers(values) : [];
  const size = model !== null && values.size !== undefined ? integer('size', values.size, 1) : null;
  const groups = values.groups !== undefined ? integerList('groups', values.groups) : null;
  const batches = values.batch !== undefined ? integerList('batch', values.batch) : null;
  const workers = values.workers !== undefined ? integerList('workers', values.workers).sort((a, b) => a - b) : defaultWorkerCounts(cores);
  const policies = values.policy !== undefined ? parsePolicies(values.policy) : (['balanced'] as PartitionPolicy[]);

  const measure: MeasureSettings = { ...DEFAULT_MEASURE };
  if (values.warmup !== undefined) measure.warmupMs = positiveNumber('warmup', values.warmup, true);
  if (values['min-runs'] !== undefined) measure.minRuns = integer('min-runs', values['min-runs'], 1);
  if (values['min-time'] !== undefined) measure.minTimeMs = positiveNumber('min-time', values['min-time'], true);
  if (values.budget !== undefined) measure.budgetMs = positiveNumber('budget', values.budget, false) * 1000;

  return {
    help: false,
    config: {
      layers,
      model,
      size,
      groups,
      batches,
      workers,
      policies,
      json: values.json ?? null,
      csv: values.csv ?? null,
      chart: values.chart ?? null,
      callingThread: values['calling-thread'] ?? false,
      measure,
    },
  };
}
