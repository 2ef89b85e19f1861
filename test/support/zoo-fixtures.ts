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
