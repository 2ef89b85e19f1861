// `groupconv infer`: a model's forward pass on tensors from .safetensors files.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ArgumentError, errors } from '../../errors.js';
import { loadSafetensors, saveSafetensors } from '../../io/safetensors.js';
import { GIB, SplitAlexNet } from '../../devices/split-model.js';
import { AlexNet } from '../../models/alexnet.js';
import type { Tensor } from '../../tensor/tensor.js';
import { checkWritable, type CliIO, type Command } from './command.js';
import { inferOnnx, isOnnxPath } from './infer-onnx.js';
import { positiveInteger, positiveNumber, readableFile } from './split-args.js';

const MODELS = ['alexnet'] as const;

export const INFER_USAGE = `Usage: groupconv infer --model alexnet --weights W.safetensors --input X.safetensors --out Y.safetensors [options]
       groupconv infer --model FILE.onnx --input X.safetensors --out Y.safetensors [--workers N]

Reads the tensor named 'input' from --input, runs the model with the weights
of --weights (a PyTorch state_dict saved as safetensors; the model's widths are
read off the weights), and writes the logits as the tensor named 'output'.
With an ONNX file as --model, runs that model (its weights are in the file) and
writes its first output as 'output'; --workers N runs its convolutions on N workers.

Options:
  --model NAME     ${MODELS.join(', ')}, or a FILE.onnx
  --workers N      with FILE.onnx: run every convolution on an engine of N workers
  --weights FILE   the state_dict (.safetensors; F32, F16 or BF16)
  --input FILE     a .safetensors file with a tensor named 'input' [N, 3, H, W]
  --out FILE       where to write the tensor named 'output'
  --devices N      devices (worker threads) to split the model over, default 1
  --budget-gb X    memory per device in GiB, default 3
  -h, --help       this help
`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  model: { type: 'string' },
  weights: { type: 'string' },
  input: { type: 'string' },
  out: { type: 'string' },
  devices: { type: 'string' },
  'budget-gb': { type: 'string' },
  workers: { type: 'string' },
} as const;

function required<T>(flag: string, value: T | undefined): T {
  if (value === undefined) throw errors.badFlag(flag, 'is required (see groupconv infer --help)');
  return value;
}

function load(flag: string, path: string): Record<string, Tensor> {
  try {
    return loadSafetensors(path);
  } catch (error) {
    if (error instanceof ArgumentError) throw errors.badFlag(flag, error.message);
    throw error;
  }
}

export async function inferCommandRun(argv: readonly string[], io: CliIO): Promise<number> {
  let values;
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (error) {
    throw errors.badFlag('arguments', (error as Error).message.split('\n')[0]);
  }
  if (values.help) {
    io.stdout.write(INFER_USAGE);
    return 0;
  }
  const modelName = required('--model', values.model);
  if (isOnnxPath(modelName)) return inferOnnx({ ...values, model: modelName }, io);
  if (values.workers !== undefined) throw errors.badFlag('--workers', `is for an ONNX --model; --model ${modelName} splits over --devices`);
  if (!(MODELS as readonly string[]).includes(modelName)) throw errors.badFlag('--model', `unknown model '${modelName}' (known: ${MODELS.join(', ')})`);
  const weightsPath = readableFile('--weights', required('--weights', values.weights))!;
  const inputPath = readableFile('--input', required('--input', values.input))!;
  const outPath = required('--out', values.out);
  checkWritable('--out', outPath);
  const devices = positiveInteger('--devices', values.devices, 1);
  const budgetGiB = positiveNumber('--budget-gb', values['budget-gb']) ?? 3;

  const inputs = load('--input', inputPath);
  const input = inputs.input;
  if (!input) throw errors.badFlag('--input', `${inputPath} has no tensor named 'input' (it has: ${Object.keys(inputs).join(', ') || 'none'})`);
  let model: AlexNet;
  try {
    model = AlexNet.fromStateDict(load('--weights', weightsPath));
  } catch (error) {
    if (error instanceof ArgumentError && !error.argument.startsWith('--')) throw errors.badFlag('--weights', error.message);
    throw error;
  }
  if (input.shape.length !== 4 || input.shape[1] !== 3) throw errors.badFlag('--input', `tensor 'input' must be [N, 3, H, W], got [${input.shape}]`);

  const split = await SplitAlexNet.create(model, {
    devices,
    batch: input.shape[0],
    inputSize: input.shape[2],
    budgetBytes: budgetGiB * GIB,
  }).catch((error) => {
    if (error instanceof ArgumentError && error.argument === 'devices') throw errors.badFlag('--devices', error.message.slice(error.argument.length + 2));
    throw error;
  });
  try {
    const t0 = performance.now();
    let output: Tensor;
    try {
      output = await split.forward(input);
    } catch (error) {
      if (error instanceof ArgumentError && error.argument === 'x.shape') throw errors.badFlag('--input', error.message);
      throw error;
    }
    saveSafetensors(outPath, { output });
    io.stderr.write(`wrote ${outPath}: output [${output.shape}] (${modelName} on ${devices} device${devices > 1 ? 's' : ''}, ${(performance.now() - t0).toFixed(0)} ms)\n`);
    return 0;
  } finally {
    await split.close();
  }
}

export const inferCommand: Command = {
  name: 'infer',
  summary: 'run a model (alexnet, or an ONNX file) on a .safetensors input, write the output to .safetensors',
  usage: INFER_USAGE,
  run: inferCommandRun,
};
