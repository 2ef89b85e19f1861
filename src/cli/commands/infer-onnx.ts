// `groupconv infer --model FILE.onnx`: the ONNX branch of infer. Reads the
// tensor named 'input', runs the model on the calling thread or, with
// --workers N, with every convolution on an engine of N workers (the same
// bits either way), and writes the model's first output as 'output'.
import { performance } from 'node:perf_hooks';
import { GroupedConvEngine } from '../../engine/engine.js';
import { ArgumentError, errors } from '../../errors.js';
import { loadSafetensors, saveSafetensors } from '../../io/safetensors.js';
import { loadOnnx } from '../../onnx/load.js';
import type { Tensor } from '../../tensor/tensor.js';
import { checkWritable, type CliIO } from './command.js';
import { positiveInteger, readableFile } from './split-args.js';

export interface OnnxInferFlags {
  model: string;
  input?: string;
  out?: string;
  workers?: string;
  /** Flags of the AlexNet branch, refused here by name. */
  weights?: string;
  devices?: string;
  'budget-gb'?: string;
}

/** Whether --model names an ONNX file rather than a built-in model. */
export const isOnnxPath = (model: string): boolean => /\.onnx$/i.test(model);

export async function inferOnnx(flags: OnnxInferFlags, io: CliIO): Promise<number> {
  for (const flag of ['weights', 'devices', 'budget-gb'] as const) {
    if (flags[flag] !== undefined) throw errors.badFlag(`--${flag}`, `is for --model alexnet; an ONNX file holds its own weights (use --workers N to run its convolutions on N workers)`);
  }
  const modelPath = readableFile('--model', flags.model)!;
  const inputPath = readableFile('--input', required('--input', flags.input))!;
  const outPath = required('--out', flags.out);
  checkWritable('--out', outPath);
  const workers = flags.workers === undefined ? null : positiveInteger('--workers', flags.workers, 1);

  let inputs: Record<string, Tensor>;
  try {
    inputs = loadSafetensors(inputPath);
  } catch (error) {
    if (error instanceof ArgumentError) throw errors.badFlag('--input', error.message);
    throw error;
  }
  const input = inputs.input;
  if (!input) throw errors.badFlag('--input', `${inputPath} has no tensor named 'input' (it has: ${Object.keys(inputs).join(', ') || 'none'})`);
  const model = loadOnnx(modelPath); // an OnnxError is an ArgumentError: one line, exit 2
  const engine = workers === null ? null : new GroupedConvEngine({ workers });
  try {
    const t0 = performance.now();
    let output: Tensor;
    try {
      output = engine ? await model.forwardWith(engine, input) : model.forward(input);
    } catch (error) {
      // The model's own shape check names the input it expects.
      if (error instanceof ArgumentError) throw errors.badFlag('--input', error.message);
      throw error;
    }
    saveSafetensors(outPath, { output });
    const where = engine ? `convolutions on ${workers} worker${workers === 1 ? '' : 's'}` : 'on the calling thread';
    io.stderr.write(`wrote ${outPath}: output [${output.shape}] (${modelPath}, ${where}, ${(performance.now() - t0).toFixed(0)} ms)\n`);
    return 0;
  } finally {
    model.close();
    await engine?.close();
  }
}

function required<T>(flag: string, value: T | undefined): T {
  if (value === undefined) throw errors.badFlag(flag, 'is required (see groupconv infer --help)');
  return value;
}
