// `groupconv split`: how a model would run cut over N devices (the split
// planner's plan: bytes received per layer and device, memory, simulated
// time), and for AlexNet's channels split the measured run on device worker
// threads too, as `groupconv alexnet` does.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ArgumentError, DeviceMemoryError, errors } from '../../errors.js';
import { loadSafetensors } from '../../io/safetensors.js';
import { runAlexNetData } from '../../devices/run-data.js';
import { alexNetInputSize, GIB } from '../../devices/split-model.js';
import type { Module } from '../../layers/module.js';
import { AlexNet } from '../../models/alexnet.js';
import { loadOnnx } from '../../onnx/load.js';
import type { OnnxModel } from '../../onnx/model.js';
import { formatPlan } from '../../split/format.js';
import { planSplit, STRATEGIES, type StrategyChoice } from '../../split/plan-split.js';
import type { SplitPlan } from '../../split/plan-types.js';
import { SPLIT_MODELS } from '../../split/zoo.js';
import { checkWritable, type CliIO, type Command } from './command.js';
import { linkFlags, nonNegativeInteger, positiveInteger, readableFile } from './split-args.js';
import { runPlanOnDevices, type DeviceRunFlags } from './split-run.js';
import { runAlexNetChannels, writeTraceFiles } from './alexnet-run.js';

const MODEL_LIST = Object.entries(SPLIT_MODELS)
  .map(([name, m]) => `    ${name.padEnd(26)} ${m.about}, input ${m.inputShape.join('x')}`)
  .join('\n');

export const SPLIT_USAGE = `Usage: groupconv split [options]

Plans a model cut over N devices and prints, per layer and device, the bytes
received (and by which collective), each device's memory against the budget,
and the simulated time under the link model (latency + bytes / bandwidth per
transfer). Then it runs the plan on the devices (worker threads with memory of
their own): AlexNet's channels split as \`groupconv alexnet\` does; any model's
data split (each device the whole model on its share of the images) or
pipeline (consecutive layers per device, micro-batches passed device to
device); any other model's channels split (each device its planned channels
of every layer, receiving the rest as the plan says). Runs are measured
against one device on the same batch, warm, median of --repeat, with the
outputs compared bit for bit.

Options:
  --model NAME          alexnet (default) or a zoo model:
${MODEL_LIST}
  --model FILE.onnx     an ONNX model (each device loads the file); --input is
                        required when its input's height or width is symbolic
  --devices N           devices, default 2
  --strategy S          channels (default; output channels split, aligned to
                        groups), pipeline (consecutive layers per device),
                        data (images split), auto (least simulated time)
  --batch N             images per pass, default 8
  --input CxHxW         one image's shape, default the model's (above)
  --budget-gb X         memory per device in GiB, default 3 (a GTX 580)
  --link-gbps X         link bandwidth (Gbit/s), default 10; for the AlexNet run,
                        each transfer waits bytes / bandwidth (default no delay)
  --link-latency-us L   per-transfer latency of the simulated link, default 5;
                        for the AlexNet run, waited per transfer (default none)
  --micro-batches N     pipeline micro-batches, default the batch (one image each)
  --plan-only           print the plan, run nothing
  --weights FILE        AlexNet: a .safetensors state_dict; default seeded weights
  --seed N              seed of the random weights and input, default 1
  --repeat N, --warmup N, --no-baseline   timed passes (default 3), untimed ones
                        before (default 1), skip the one-device run
  --json FILE           also write the plan (and the run) as JSON
  --trace FILE          write a Chrome trace (Perfetto, chrome://tracing): a
                        track per device, the plan's simulated timeline, and the
                        measured run: AlexNet's channels split's last pass as
                        each device stamped it (compute, sends, receives); any
                        model's data or pipeline run's median pass, each unit
                        (per micro-batch) where its device computed it; a
                        channels run laid out from its per-unit times
  --chart FILE          the device timeline as an SVG (the measured run's when
                        there is one, else the plan's simulated one)
  -h, --help            this help

Examples:
  groupconv split --model alexnet --devices 2 --batch 8 --budget-gb 0.2
  groupconv split --model shuffle-block --devices 4 --strategy auto --plan-only
  groupconv split --model resnet18.onnx --input 3x224x224 --strategy auto --plan-only
  groupconv split --model resnext.onnx --devices 2 --strategy pipeline --batch 8
`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  model: { type: 'string' },
  devices: { type: 'string' },
  strategy: { type: 'string' },
  batch: { type: 'string' },
  input: { type: 'string' },
  'budget-gb': { type: 'string' },
  'link-gbps': { type: 'string' },
  'link-latency-us': { type: 'string' },
  'micro-batches': { type: 'string' },
  'plan-only': { type: 'boolean' },
  weights: { type: 'string' },
  seed: { type: 'string' },
  repeat: { type: 'string' },
  warmup: { type: 'string' },
  'no-baseline': { type: 'boolean' },
  json: { type: 'string' },
  trace: { type: 'string' },
  chart: { type: 'string' },
} as const;

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (error) {
    throw errors.badFlag('arguments', (error as Error).message.split('\n')[0]);
  }
}

function imageShape(value: string): number[] {
  const parts = value.split('x');
  if (parts.length !== 3 || !parts.every((p) => /^\d+$/.test(p) && Number(p) > 0)) {
    throw errors.badFlag('--input', `expected one image's CxHxW as positive integers (e.g. 3x227x227), got '${value}'`);
  }
  return parts.map(Number);
}

/** planSplit's argument errors, named as the flags the user typed. */
const FLAG_OF: Record<string, string> = { devices: '--devices', batch: '--batch', inputShape: '--input', strategy: '--strategy' };

export async function splitCommandRun(argv: readonly string[], io: CliIO): Promise<number> {
  const values = parse(argv);
  if (values.help) {
    io.stdout.write(SPLIT_USAGE);
    return 0;
  }
  const name = values.model ?? 'alexnet';
  if (name.toLowerCase().endsWith('.onnx')) return planOnnx(values, io);
  const named = SPLIT_MODELS[name];
  if (!named) throw errors.badFlag('--model', `unknown model '${name}' (one of: ${Object.keys(SPLIT_MODELS).join(', ')})`);
  const strategy = (values.strategy ?? 'channels') as StrategyChoice;
  if (!STRATEGIES.includes(strategy)) throw errors.badFlag('--strategy', `expected one of ${STRATEGIES.join(', ')}, got '${values.strategy}'`);
  const devices = positiveInteger('--devices', values.devices, 2);
  const batch = positiveInteger('--batch', values.batch, 8);
  const seed = positiveInteger('--seed', values.seed, 1);
  const repeat = positiveInteger('--repeat', values.repeat, 3);
  const warmup = nonNegativeInteger('--warmup', values.warmup, 1);
  const { budgetGiB, linkGbps, latencyUs } = linkFlags(values);
  const givenShape = values.input === undefined ? undefined : imageShape(values.input);
  const weights = readableFile('--weights', values.weights);
  if (weights && name !== 'alexnet') throw errors.badFlag('--weights', `loads AlexNet weights only, and --model is ${name}`);
  if (values.json) checkWritable('--json', values.json);
  if (values.trace) checkWritable('--trace', values.trace);
  if (values.chart) checkWritable('--chart', values.chart);

  let model: Module;
  if (weights) {
    try {
      model = AlexNet.fromStateDict(loadSafetensors(weights));
    } catch (error) {
      if (error instanceof ArgumentError) throw errors.badFlag('--weights', `${weights}: ${error.message}`);
      throw error;
    }
  } else model = named.build(seed);

  // An AlexNet's input side follows from its pooled map (a reduced-width state_dict has its own).
  const defaultShape = model instanceof AlexNet ? [3, alexNetInputSize(model.config.pooled), alexNetInputSize(model.config.pooled)] : named.inputShape;
  const inputShape = givenShape ?? defaultShape;
  let plan: SplitPlan;
  try {
    plan = planSplit(model, { devices, strategy, batch, inputShape, budgetBytes: budgetGiB * GIB, link: { gbps: linkGbps, latencyUs }, microBatches: microBatchesFlag(values) });
  } catch (error) {
    if (error instanceof ArgumentError && FLAG_OF[error.argument]) throw errors.badFlag(FLAG_OF[error.argument], error.message.slice(error.argument.length + 2));
    throw error;
  }
  io.stdout.write(`${formatPlan(plan)}\n`);

  const alexNetRun = model instanceof AlexNet && (plan.strategy === 'channels' || plan.strategy === 'data');
  if (values['plan-only']) return finishPlanOnly(plan, values, io, budgetGiB);
  if (!alexNetRun) {
    if (!plan.fits) return finishPlanOnly(plan, values, io, budgetGiB);
    const flags = deviceRunFlags(values, { repeat, warmup, seed, budgetBytes: budgetGiB * GIB, linkGbps, latencyUs });
    return refusedAsExit(io, () => runPlanOnDevices(plan, { kind: 'zoo', name: model instanceof AlexNet ? 'alexnet' : name, stateDict: model.stateDict() }, flags, io));
  }
  if (plan.strategy === 'channels') {
    io.stdout.write('\n');
    const run = { seed, repeat, warmup, budgetBytes: budgetGiB * GIB, linkGbps, latencyUs, baseline: !values['no-baseline'] };
    return runAlexNetChannels(model as AlexNet, plan, run, values, io, 'split');
  }
  writeTraceFiles(plan, values, io);
  return refusedAsExit(io, async () => {
    const report = await runAlexNetData({ model: model as AlexNet, devices, batch, seed, repeat, warmup, budgetBytes: budgetGiB * GIB, log: (line) => io.stderr.write(`${line}\n`) });
    io.stdout.write(
      `\nmeasured: ${report.wallMs.toFixed(1)} ms on ${devices} devices (each the whole model, ${batch} images shared out), ` +
        `1 device ${report.baseline.wallMs.toFixed(1)} ms${report.baseline.refused ? ' (budget lifted to measure it)' : ''}: ` +
        `speedup ${report.speedup.toFixed(2)}x (median of per-pass ratios ${report.speedupOfRatios.toFixed(2)}x, ${repeat} passes after ${warmup} warm-up); ` +
        `logits ${report.logitsBitwiseEqual ? 'bitwise identical' : 'DIFFER'} on 1 and ${devices} devices\n` +
        `simulated ${plan.simulated.ms.toFixed(1)} ms, measured ${report.wallMs.toFixed(1)} ms\n`,
    );
    if (values.json) {
      writeFileSync(values.json, `${JSON.stringify({ ...report, strategy: plan.strategy, simulatedMs: plan.simulated.ms, plan }, null, 2)}\n`);
      io.stderr.write(`wrote ${values.json}\n`);
    }
    return 0;
  });
}

/** `--model FILE.onnx`: the plan of an ONNX model, then its run on the devices (each loads the file). */
async function planOnnx(values: ReturnType<typeof parse>, io: CliIO): Promise<number> {
  const file = readableFile('--model', values.model)!;
  const strategy = (values.strategy ?? 'channels') as StrategyChoice;
  if (!STRATEGIES.includes(strategy)) throw errors.badFlag('--strategy', `expected one of ${STRATEGIES.join(', ')}, got '${values.strategy}'`);
  const devices = positiveInteger('--devices', values.devices, 2);
  const batch = positiveInteger('--batch', values.batch, 8);
  const { budgetGiB, linkGbps, latencyUs } = linkFlags(values);
  const inputShape = values.input === undefined ? undefined : imageShape(values.input);
  if (values.weights !== undefined) throw errors.badFlag('--weights', 'loads AlexNet weights only, and --model is an ONNX file');
  const seed = positiveInteger('--seed', values.seed, 1);
  const repeat = positiveInteger('--repeat', values.repeat, 3);
  const warmup = nonNegativeInteger('--warmup', values.warmup, 1);
  if (values.json) checkWritable('--json', values.json);
  if (values.trace) checkWritable('--trace', values.trace);
  if (values.chart) checkWritable('--chart', values.chart);
  let model: OnnxModel;
  try {
    model = loadOnnx(file);
  } catch (error) {
    if (error instanceof ArgumentError) throw errors.badFlag('--model', `${file}: ${error.message}`);
    throw error;
  }
  let plan: SplitPlan;
  try {
    plan = planSplit(model, { devices, strategy, batch, ...(inputShape ? { inputShape } : {}), budgetBytes: budgetGiB * GIB, link: { gbps: linkGbps, latencyUs }, microBatches: microBatchesFlag(values) });
  } catch (error) {
    if (error instanceof ArgumentError && FLAG_OF[error.argument]) throw errors.badFlag(FLAG_OF[error.argument], error.message.slice(error.argument.length + 2));
    throw error;
  } finally {
    model.close();
  }
  io.stdout.write(`${formatPlan(plan)}\n`);
  if (values['plan-only'] || !plan.fits) return finishPlanOnly(plan, values, io, budgetGiB);
  const flags = deviceRunFlags(values, { repeat, warmup, seed, budgetBytes: budgetGiB * GIB, linkGbps, latencyUs });
  return refusedAsExit(io, () => runPlanOnDevices(plan, { kind: 'onnx', path: file }, flags, io));
}

const microBatchesFlag = (values: ReturnType<typeof parse>): number | undefined =>
  values['micro-batches'] === undefined ? undefined : positiveInteger('--micro-batches', values['micro-batches'], 1);

/** The flags of a run on the model devices. */
function deviceRunFlags(
  values: ReturnType<typeof parse>,
  checked: { repeat: number; warmup: number; seed: number; budgetBytes: number; linkGbps: number | undefined; latencyUs: number | undefined },
): DeviceRunFlags {
  const microBatches = microBatchesFlag(values);
  return {
    repeat: checked.repeat,
    warmup: checked.warmup,
    seed: checked.seed,
    baseline: !values['no-baseline'],
    budgetBytes: checked.budgetBytes,
    link: { ...(checked.linkGbps !== undefined ? { gbps: checked.linkGbps } : {}), ...(checked.latencyUs !== undefined ? { latencyUs: checked.latencyUs } : {}) },
    ...(microBatches !== undefined ? { microBatches } : {}),
    ...(values.json ? { json: values.json } : {}),
    ...(values.trace ? { trace: values.trace } : {}),
    ...(values.chart ? { chart: values.chart } : {}),
  };
}

/** A run the devices refuse for memory exits 1 with the refusal, as AlexNet's does. */
async function refusedAsExit(io: CliIO, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof DeviceMemoryError) {
      io.stderr.write(`groupconv split: refused: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** A plan that is not run: its files, then exit 1 when it does not fit the budget (it was refused), else 0. */
function finishPlanOnly(plan: SplitPlan, values: ReturnType<typeof parse>, io: CliIO, budgetGiB: number): number {
  writeTraceFiles(plan, values, io);
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify({ strategy: plan.strategy, simulatedMs: plan.simulated.ms, plan }, null, 2)}\n`);
    io.stderr.write(`wrote ${values.json}\n`);
  }
  if (plan.fits) return 0;
  const devices = plan.devices;
  io.stderr.write(`groupconv split: refused: ${plan.model} does not fit ${devices} device${devices > 1 ? 's' : ''} of ${budgetGiB} GiB under the ${plan.strategy} plan\n`);
  return 1;
}

export const splitCommand: Command = {
  name: 'split',
  summary: 'plan and run a model split over devices: channels (AlexNet), pipeline, data or auto',
  usage: SPLIT_USAGE,
  run: splitCommandRun,
};
