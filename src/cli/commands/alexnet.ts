// `groupconv alexnet`: AlexNet split over simulated GPUs (device worker
// threads), with per-layer weights, time and traffic, and the speedup of the
// split over one device.
import { parseArgs } from 'node:util';
import { ArgumentError, errors } from '../../errors.js';
import { loadSafetensors } from '../../io/safetensors.js';
import { alexNetInputSize, GIB } from '../../devices/split-model.js';
import { planSplit } from '../../split/plan-split.js';
import type { SplitPlan } from '../../split/plan-types.js';
import { AlexNet } from '../../models/alexnet.js';
import { checkWritable, type CliIO, type Command } from './command.js';
import { runAlexNetChannels } from './alexnet-run.js';
import { linkFlags, nonNegativeInteger, positiveInteger, readableFile } from './split-args.js';

export const ALEXNET_USAGE = `Usage: groupconv alexnet [options]

Runs AlexNet split over simulated GPUs as in Krizhevsky et al. (2012): each
device is a worker thread holding its half of every layer's weights. Prints per
layer each device's parameters, weight bytes and time, the bytes exchanged
between devices, the peak memory per device, and the speedup over one device
on the same batch (measured too, with the budget lifted if one device cannot
hold the model).

Options:
  --devices N      devices (worker threads), default 2 (1, 2 and 4 work for AlexNet)
  --batch N        images per forward pass, default 8
  --weights FILE   a .safetensors AlexNet state_dict (PyTorch names); default
                   seeded random weights (PyTorch's default initialisation)
  --seed N         seed of the random weights and input batch, default 1
  --budget-gb X    memory per device in GiB, default 3 (a GTX 580); a model that
                   does not fit is refused, quoting what each device needs
  --link-gbps X    simulated link bandwidth between devices (Gbit/s): each
                   transfer waits bytes / bandwidth; default no delay
  --link-latency-us L  simulated per-transfer latency, waited per transfer;
                   default none
  --repeat N       timed forward passes per device count (the median is quoted), default 3
  --warmup N       untimed passes first (the first compiles and plans), default 1
  --no-baseline    skip the one-device run (no speedup)
  --json FILE      also write the report as JSON (split --json's fields)
  --trace FILE     write a Chrome trace (Perfetto, chrome://tracing): a track
                   per device, the plan's simulated timeline and the last
                   measured pass (compute, sends, receives)
  --chart FILE     the measured device timeline as an SVG
  -h, --help       this help

It is \`groupconv split --model alexnet --strategy channels\` without the plan's
printout.

Example (the paper's story: one device cannot hold the model, two can):
  groupconv alexnet --devices 2 --batch 8 --budget-gb 0.2
`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  devices: { type: 'string' },
  batch: { type: 'string' },
  weights: { type: 'string' },
  seed: { type: 'string' },
  'budget-gb': { type: 'string' },
  'link-gbps': { type: 'string' },
  'link-latency-us': { type: 'string' },
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

export async function alexnetCommandRun(argv: readonly string[], io: CliIO): Promise<number> {
  const values = parse(argv);
  if (values.help) {
    io.stdout.write(ALEXNET_USAGE);
    return 0;
  }
  const devices = positiveInteger('--devices', values.devices, 2);
  const batch = positiveInteger('--batch', values.batch, 8);
  const seed = positiveInteger('--seed', values.seed, 1);
  const repeat = positiveInteger('--repeat', values.repeat, 3);
  const warmup = nonNegativeInteger('--warmup', values.warmup, 1);
  const { budgetGiB, linkGbps, latencyUs } = linkFlags(values);
  const weights = readableFile('--weights', values.weights);
  for (const flag of ['json', 'trace', 'chart'] as const) if (values[flag]) checkWritable(`--${flag}`, values[flag]);

  let model: AlexNet;
  if (weights) {
    try {
      model = AlexNet.fromStateDict(loadSafetensors(weights));
    } catch (error) {
      if (error instanceof ArgumentError) throw errors.badFlag('--weights', `${weights}: ${error.message}`);
      throw error;
    }
  } else model = new AlexNet({ seed });

  const side = alexNetInputSize(model.config.pooled);
  let plan: SplitPlan;
  try {
    plan = planSplit(model, { devices, strategy: 'channels', batch, inputShape: [3, side, side], budgetBytes: budgetGiB * GIB, link: { gbps: linkGbps, latencyUs } });
  } catch (error) {
    if (error instanceof ArgumentError && error.argument === 'devices') throw errors.badFlag('--devices', error.message.slice(error.argument.length + 2));
    throw error;
  }
  const run = { seed, repeat, warmup, budgetBytes: budgetGiB * GIB, linkGbps, latencyUs, baseline: !values['no-baseline'] };
  return runAlexNetChannels(model, plan, run, values, io, 'alexnet');
}

export const alexnetCommand: Command = {
  name: 'alexnet',
  summary: 'AlexNet split over simulated GPUs (device worker threads): traffic, memory, speedup',
  usage: ALEXNET_USAGE,
  run: alexnetCommandRun,
};
