// The PyTorch golden data (copied from the shared golden set into test/golden),
// loaded once and described as a table, so one suite can run it through every
// backend: the reference conv, the fast kernels and the engine.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Conv2dOptions, Tensor } from '../../src/index.js';

export const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden');

export interface ConvCase {
  id: string;
  op: 'conv2d';
  input_shape: number[];
  weight_shape: number[];
  bias: boolean;
  bias_shape?: number[];
  torch_args: { stride: number | number[]; padding: number | number[] | string; dilation: number | number[]; groups: number };
  output_shape?: number[];
  files?: Record<string, string>;
  atol?: number;
  rtol?: number;
  expect_error?: boolean;
  torch_error?: string;
  note: string;
}

export interface ShuffleCase {
  id: string;
  op: 'channel_shuffle';
  input_shape: number[];
  groups: number;
  output_shape?: number[];
  files?: { input: string; output: string };
  expected_values?: number[];
  expect_error?: boolean;
  note: string;
}

export type GoldenCase = ConvCase | ShuffleCase;

export const goldenCases: GoldenCase[] = JSON.parse(readFileSync(join(GOLDEN_DIR, 'cases.json'), 'utf8'));
export const convCases = goldenCases.filter((c): c is ConvCase => c.op === 'conv2d');
export const shuffleCases = goldenCases.filter((c): c is ShuffleCase => c.op === 'channel_shuffle');

export function readF32(file: string): Float32Array {
  const buf = readFileSync(join(GOLDEN_DIR, file));
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** A tensor of the case's shape, every value 0.5, for cases that have no data files (error cases). */
function filled(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: new Float32Array(n).fill(0.5) };
}

export interface ConvArguments {
  input: Tensor;
  weight: Tensor;
  bias: Tensor | null;
  options: Conv2dOptions;
  expected?: Tensor;
}

export function convArguments(c: ConvCase): ConvArguments {
  const options = c.torch_args as Conv2dOptions;
  if (c.expect_error) {
    const biasShape = c.bias_shape ?? (c.bias ? [c.weight_shape[0]] : null);
    return { input: filled(c.input_shape), weight: filled(c.weight_shape), bias: biasShape ? filled(biasShape) : null, options };
  }
  const files = c.files!;
  return {
    input: { shape: c.input_shape, data: readF32(files.input) },
    weight: { shape: c.weight_shape, data: readF32(files.weight) },
    bias: files.bias ? { shape: [c.weight_shape[0]], data: readF32(files.bias) } : null,
    options,
    expected: { shape: c.output_shape!, data: readF32(files.output) },
  };
}
