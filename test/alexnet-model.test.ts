// AlexNet as a Module: PyTorch's parameter count and state_dict names, its
// logits against PyTorch's for the same weights, and clear failures on bad weights.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError, loadSafetensors, models, parseSafetensors, serializeSafetensors } from '../src/index.js';
import { expectClose } from './support/tolerance.js';

const DIR = join(import.meta.dirname, 'fixtures', 'alexnet');
const weightsPath = join(DIR, 'tiny-weights.safetensors');
const weights = loadSafetensors(weightsPath);
const io = loadSafetensors(join(DIR, 'tiny-io.safetensors'));
const metadata = (() => {
  const bytes = readFileSync(weightsPath);
  return JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')).__metadata__;
})();

describe('AlexNet shape', () => {
  it("has PyTorch's 60,965,224 parameters, counted by building it and without", () => {
    expect(Number(metadata.full_parameter_count)).toBe(60_965_224); // computed by PyTorch in make_fixture.py
    expect(models.alexNetParameterCount()).toBe(60_965_224);
    const model = new models.AlexNet();
    expect(model.parameterCount()).toBe(60_965_224);
    const state = model.stateDict();
    expect(Object.keys(state)).toEqual([
      ...[0, 4, 8, 10, 12].flatMap((i) => [`features.${i}.weight`, `features.${i}.bias`]),
      ...[1, 4, 6].flatMap((i) => [`classifier.${i}.weight`, `classifier.${i}.bias`]),
    ]);
    expect(state['features.4.weight'].shape).toEqual([256, 48, 5, 5]); // groups=2: half the input channels
    expect(state['classifier.1.weight'].shape).toEqual([4096, 9216]);
  });

  it('has the state_dict of the PyTorch reduced-width model, name for name and shape for shape', () => {
    const model = new models.AlexNet(JSON.parse(metadata.config));
    const state = model.stateDict();
    expect(Object.keys(state).sort()).toEqual(Object.keys(weights).sort());
    for (const [name, t] of Object.entries(weights)) expect(state[name].shape, name).toEqual(t.shape);
    expect(models.alexNetConfigOf(weights)).toEqual(JSON.parse(metadata.config));
  });

  it('initialises from a seed: the same seed gives the same weights, another seed others', () => {
    const config = JSON.parse(metadata.config);
    const a = new models.AlexNet({ ...config, seed: 3 }).stateDict();
    const b = new models.AlexNet({ ...config, seed: 3 }).stateDict();
    const c = new models.AlexNet({ ...config, seed: 4 }).stateDict();
    expect(a['features.8.weight'].data).toEqual(b['features.8.weight'].data);
    expect(a['features.8.weight'].data).not.toEqual(c['features.8.weight'].data);
    // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in of conv3 = 40 * 3 * 3.
    const bound = 1 / Math.sqrt(40 * 9);
    expect(Math.max(...a['features.8.weight'].data.map(Math.abs))).toBeLessThanOrEqual(bound);
  });
});

describe('AlexNet logits', () => {
  const model = models.AlexNet.fromStateDict(weights);

  it("match PyTorch's for the same weights and input", () => {
    const y = model.forward(io.input);
    expect(y.shape).toEqual([2, 10]);
    expectClose(y.data, io.output.data, { atol: 1e-4, rtol: 1e-4 }, 'logits');
    // The features (conv5 pooled) too, before the classifier.
    expectClose(model.features.forward(io.input).data, io.features.data, { atol: 1e-4, rtol: 1e-4 }, 'features');
  });

  it('refuses an input of the wrong channel count or size', () => {
    expect(() => model.forward({ shape: [1, 1, 99, 99], data: new Float32Array(99 * 99) })).toThrow(/3 input channels/);
    expect(() => model.forward({ shape: [1, 3, 131, 131], data: new Float32Array(3 * 131 * 131) })).toThrow(/expects 2x2/);
  });
});

describe('AlexNet weights that do not fit', () => {
  const model = () => new models.AlexNet(JSON.parse(metadata.config));

  it('names missing, unexpected and mis-shaped tensors, and changes nothing', () => {
    const m = model();
    const before = m.stateDict()['features.0.weight'].data.slice();
    const { 'classifier.6.bias': _, ...missing } = weights;
    expect(() => m.loadStateDict(missing)).toThrow(/missing: classifier\.6\.bias/);
    expect(() => m.loadStateDict({ ...weights, 'features.1.weight': weights['classifier.6.bias'] })).toThrow(/unexpected: features\.1\.weight/);
    const bad = { ...weights, 'features.4.weight': { shape: [40, 16, 5, 5], data: new Float32Array(40 * 16 * 25) } };
    expect(() => m.loadStateDict(bad)).toThrow(/tensors\['features\.4\.weight'\]: expected shape \[40, 8, 5, 5\], got \[40, 16, 5, 5\]/);
    expect(m.stateDict()['features.0.weight'].data).toEqual(before);
  });

  it('refuses a truncated or malformed weights file', () => {
    const bytes = serializeSafetensors(weights);
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 100), 'w.safetensors')).toThrow(/truncated/);
    expect(() => models.AlexNet.fromStateDict({})).toThrow(ArgumentError);
    expect(() => models.AlexNet.fromStateDict({ ...weights, 'classifier.1.weight': { shape: [64, 159], data: new Float32Array(64 * 159) } })).toThrow(
      /159 inputs is not 40 channels times a square/,
    );
  });
});
