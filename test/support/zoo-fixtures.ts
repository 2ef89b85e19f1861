// The PyTorch model-zoo fixtures of test/fixtures/zoo (made by make_fixtures.py):
// per case a state_dict and input/expected safetensors, described in cases.json.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, models, type Tensor } from '../../src/index.js';

export const ZOO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zoo');

export type ModelName = 'ResNeXtBlock' | 'ShuffleBlock' | 'DepthwiseSeparableConv' | 'GroupedBottleneck' | 'MiniGroupNet' | 'GlobalDepthwiseConv' | 'ResNetBottleneck';

export interface ModelCase {
  id: string;
  model: ModelName;
  options: Record<string, unknown>;
  input_shape: number[];
  output_shape: number[];
  parameter_count: number;
  state_dict_keys: string[];
  max_abs_expected: number;
  torch_f32_max_err: number;
}

export interface LayerCase {
  id: string;
  note: string;
  tensors: string[];
}

interface ZooCases {
  models: ModelCase[];
  layers: LayerCase[];
  parameter_counts: { model: ModelName; options: Record<string, unknown>; parameter_count: number }[];
}

export const zooCases: ZooCases = JSON.parse(readFileSync(join(ZOO_DIR, 'cases.json'), 'utf8'));

/** Builds a model of the zoo by name from its options, as the fixtures name them. */
export function buildModel(name: ModelName, options: Record<string, unknown>): models.ZooModel {
  const Model = models[name] as unknown as new (options: Record<string, unknown>) => models.ZooModel;
  return new Model(options);
}

export function caseState(c: ModelCase): Record<string, Tensor> {
  return loadSafetensors(join(ZOO_DIR, `${c.id}.state.safetensors`));
}

export function caseIO(c: ModelCase): { input: Tensor; expected: Tensor } {
  const io = loadSafetensors(join(ZOO_DIR, `${c.id}.io.safetensors`));
  return { input: io.input, expected: io.expected };
}

export const layerTensors: Record<string, Tensor> = loadSafetensors(join(ZOO_DIR, 'layers.safetensors'));

/**
 * Tolerance of a model's output against the float64 PyTorch result:
 * |got - expected| <= ATOL_FRACTION * max|expected| + RTOL * |expected|.
 */
export const ATOL_FRACTION = 1e-5;
export const RTOL = 1e-5;

/** Largest excess over the tolerance (<= 0 passes) and the largest absolute error, for messages. */
export function compareWithTolerance(got: Tensor, expected: Tensor, maxAbsExpected: number): { worst: number; maxErr: number; at: number } {
  const atol = ATOL_FRACTION * maxAbsExpected;
  let worst = -Infinity;
  let maxErr = 0;
  let at = -1;
  for (let i = 0; i < expected.data.length; i++) {
    const err = Math.abs(got.data[i] - expected.data[i]);
    const excess = err - (atol + RTOL * Math.abs(expected.data[i]));
    if (!(excess <= worst)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      at = i;
    }
    if (err > maxErr || Number.isNaN(err)) maxErr = Number.isNaN(err) ? Infinity : err;
  }
  return { worst, maxErr, at };
}
