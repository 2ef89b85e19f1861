// What a device is told to load: an ONNX file (its path, so external data
// resolves, or its bytes) or a zoo model by name with its state_dict. The
// device builds the model itself from that, once, so no weights are sent per
// call. The host builds the same model from the same source to plan it.
import { errors } from '../errors.js';
import type { Module, StateDict } from '../layers/module.js';
import { AlexNet } from '../models/alexnet.js';
import { loadOnnx } from '../onnx/load.js';
import type { OnnxModel } from '../onnx/model.js';
import { SPLIT_MODELS } from '../split/zoo.js';
import { moduleProgram, onnxProgram, type Program } from './model-program.js';

export type ModelSource =
  /** An ONNX model: its file (read by each device), or its bytes. */
  | { kind: 'onnx'; path: string }
  | { kind: 'onnx'; bytes: Uint8Array }
  /** A model `groupconv split --model NAME` knows (src/split/zoo.ts), with these weights; 'alexnet' takes any AlexNet state_dict. */
  | { kind: 'zoo'; name: string; stateDict: StateDict };

export type LoadedModel = { kind: 'module'; model: Module } | { kind: 'onnx'; model: OnnxModel };

/** The source a device rebuilds `model` from: AlexNet by its state_dict, a zoo model by its class. */
export function moduleSource(model: Module): ModelSource {
  if (model instanceof AlexNet) return { kind: 'zoo', name: 'alexnet', stateDict: model.stateDict() };
  for (const [name, entry] of Object.entries(SPLIT_MODELS)) {
    if (name !== 'alexnet' && entry.build(1).constructor === model.constructor) return { kind: 'zoo', name, stateDict: model.stateDict() };
  }
  throw errors.invalid('model', `devices rebuild zoo models by name, and ${model.constructor.name} is not one (${Object.keys(SPLIT_MODELS).join(', ')})`);
}

export function loadSource(source: ModelSource): LoadedModel {
  if (source === null || typeof source !== 'object') throw errors.invalid('source', 'expected { kind: "onnx", path | bytes } or { kind: "zoo", name, stateDict }');
  if (source.kind === 'onnx') return { kind: 'onnx', model: loadOnnx('path' in source ? source.path : source.bytes) };
  if (source.kind !== 'zoo') throw errors.invalid('source.kind', `expected 'onnx' or 'zoo', got '${String((source as { kind: unknown }).kind)}'`);
  if (source.name === 'alexnet') return { kind: 'module', model: AlexNet.fromStateDict(source.stateDict) };
  const entry = SPLIT_MODELS[source.name];
  if (!entry) throw errors.invalid('source.name', `unknown model '${source.name}' (one of: ${Object.keys(SPLIT_MODELS).join(', ')})`);
  const model = entry.build(1);
  model.loadStateDict(source.stateDict);
  return { kind: 'module', model };
}

/** The units the devices run, for images of `image` ([C, H, W]). */
export function programOf(loaded: LoadedModel, image: readonly number[]): Program {
  return loaded.kind === 'onnx' ? onnxProgram(loaded.model, image) : moduleProgram(loaded.model);
}

/** Bytes of the weights a whole model holds (its float initializers, or its state_dict): what each device keeps resident. */
export function weightBytesOf(loaded: LoadedModel): number {
  const tensors = loaded.kind === 'onnx' ? [...loaded.model.graph.initializers.values()].filter((v) => v.dtype === 'float32') : Object.values(loaded.model.stateDict());
  return tensors.reduce((sum, t) => sum + t.data.byteLength, 0);
}

export function closeLoaded(loaded: LoadedModel): void {
  if (loaded.kind === 'onnx') loaded.model.close();
}
