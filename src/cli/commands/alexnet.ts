// `groupconv alexnet`: AlexNet split over simulated GPUs (device worker
// threads), with per-layer weights, time and traffic, and the speedup of the
// split over one device.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ArgumentError, DeviceMemoryError, errors } from '../../errors.js';
import { loadSafetensors } from '../../io/safetensors.js';
import { formatSplitReport } from '../../devices/report.js';
import { runAlexNetSplit } from '../../devices/run-split.js';
import { alexNetInputSize, GIB } from '../../devices/split-model.js';
import { planSplit } from '../../split/plan-split.js';
import { AlexNet } from '../../models/alexnet.js';
import { checkWritable, type CliIO, type Command } from './command.js';
import { splitRunJson } from './split.js';
import { nonNegativeInteger, positiveInteger, positiveNumber, readableFile } from './split-args.js';

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
  --repeat N       timed forward passes per device count (the median is quoted), default 3
  --warmup N       untimed passes first (the first compiles and plans), default 1
  --no-baseline    skip the one-device run (no speedup)
  --json FILE      also write the report as JSON
  -h, --help       this help

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
  repeat: { type: 'string' },
  warmup: { type: 'string' },
  'no-baseline': { type: 'boolean' },
  json: { type: 'string' },
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
  const budgetGiB = positiveNumber('--budget-gb', values['budget-gb']) ?? 3;
  const linkGbps = positiveNumber('--link-gbps', values['link-gbps']);
  const weights = readableFile('--weights', values.weights);
  if (values.json) checkWritable('--json', values.json);

  let model: AlexNet;
  if (weights) {
    try {
      model = AlexNet.fromStateDict(loadSafetensors(weights));
    } catch (error) {
      if (error instanceof ArgumentError) throw errors.badFlag('--weights', `${weights}: ${error.message}`);
      throw error;
    }
  } else model = new AlexNet({ seed });

  try {
    const report = await runAlexNetSplit({
      model,
      devices,
      batch,
      seed,
      repeat,
      warmup,
      budgetBytes: budgetGiB * GIB,
      linkGbps,
      baseline: !values['no-baseline'],
      log: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`${formatSplitReport(report)}\n`);
    if (values.json) {
      // groupconv alexnet is split --model alexnet --strategy channels: the same JSON, with the plan's strategy, simulated time and collectives.
      const side = alexNetInputSize(model.config.pooled);
      const plan = planSplit(model, { devices, strategy: 'channels', batch, inputShape: [3, side, side], budgetBytes: budgetGiB * GIB, link: { gbps: linkGbps } });
      writeFileSync(values.json, `${JSON.stringify(splitRunJson(report, plan), null, 2)}\n`);
      io.stderr.write(`wrote ${values.json}\n`);
    }
    return 0;
  } catch (error) {
    if (error instanceof DeviceMemoryError) {
      io.stderr.write(`groupconv alexnet: refused: ${error.message}\n`);
      return 1;
    }
    if (error instanceof ArgumentError && error.argument === 'devices') throw errors.badFlag('--devices', error.message.slice(error.argument.length + 2));
    throw error;
  }
}

export const alexnetCommand: Command = {
  name: 'alexnet',
  summary: 'AlexNet split over simulated GPUs (device worker threads): traffic, memory, speedup',
  usage: ALEXNET_USAGE,
  run: alexnetCommandRun,
};
