// Loading the ONNX fixtures (test/fixtures/onnx, made by make_fixtures.py from
// torchvision's blocks): each reports the inputs, outputs, parameter count and
// operators that PyTorch and the onnx package recorded in cases.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOnnx, loadSafetensors, OnnxError, OnnxModel } from '../src/index.js';
import { allNodes } from '../src/onnx/graph.js';
import { SUPPORTED_OPERATORS } from '../src/onnx/index.js';
import { ONNX_PROTO } from '../src/onnx/schema/onnx-schema.js';
import { CASES, FIXTURES, fixtureBytes } from './support/onnx.js';

describe('loadOnnx on the torchvision-block fixtures', () => {
  it('has the fixtures the brief asks for', () => {
    const ids = CASES.map((c) => c.id);
    for (const id of ['alexnet_like', 'alexnet_lrn', 'vgg_like', 'resnet_basic', 'resnet_bottleneck', 'resnext', 'mobilenet_v2', 'mobilenet_v3', 'shufflenet_v2', 'squeezenet_like', 'densenet_like', 'googlenet_like', 'efficientnet_like', 'regnet_like', 'mnasnet_like', 'convnext_like', 'external_data', 'float16_init']) {
      expect(ids).toContain(id);
    }
    expect(new Set(CASES.map((c) => c.opset))).toEqual(new Set([11, 12, 13, 14, 15, 16, 17]));
  });

  for (const c of CASES) {
    it(`${c.id} (opset ${c.opset}) loads with the inputs, outputs and parameter count PyTorch reported`, () => {
      const model = loadOnnx(join(FIXTURES, c.file));
      expect(model).toBeInstanceOf(OnnxModel);
      expect(model.info.opset).toBe(c.opset);
      expect(model.inputs.map((i) => ({ name: i.name, shape: i.shape, dtype: i.dtype }))).toEqual(c.inputs);
      expect(model.outputs.map((o) => ({ name: o.name, shape: o.shape, dtype: o.dtype }))).toEqual(c.outputs);
      expect(model.parameterCount()).toBe(c.parameterCount);
      const ops = new Set([...allNodes(model.graph)].map((n) => n.opType));
      expect([...ops].sort()).toEqual(c.operators);
      for (const op of ops) expect(SUPPORTED_OPERATORS).toContain(op);
      model.close();
    });
  }

  it('loads the same model from bytes as from its path', () => {
    const c = CASES.find((x) => x.id === 'shufflenet_v2')!;
    const fromPath = loadOnnx(join(FIXTURES, c.file));
    const fromBytes = loadOnnx(fixtureBytes(c.file));
    expect(fromBytes.inputs).toEqual(fromPath.inputs);
    expect(fromBytes.parameterCount()).toBe(fromPath.parameterCount());
    expect(fromBytes.graph.nodes.map((n) => n.opType)).toEqual(fromPath.graph.nodes.map((n) => n.opType));
  });

  it('stateDict holds the float initializers under their PyTorch names, FLOAT16 ones widened', () => {
    const model = loadOnnx(join(FIXTURES, 'resnet_basic.onnx'));
    const state = model.stateDict();
    expect(state['0.0.weight'].shape).toEqual([16, 3, 3, 3]);
    expect(state['0.1.running_var'].shape).toEqual([16]);
    expect(state['4.2.weight'].shape).toEqual([10, 32]);
    // A copy: changing it does not change the model.
    state['0.0.weight'].data[0] += 1;
    expect(model.stateDict()['0.0.weight'].data[0]).not.toBe(state['0.0.weight'].data[0]);

    const half = loadOnnx(join(FIXTURES, 'float16_init.onnx')).stateDict();
    const full = loadOnnx(join(FIXTURES, 'mobilenet_v2.onnx')).stateDict();
    expect(Object.keys(half).sort()).toEqual(Object.keys(full).sort());
    for (const [name, t] of Object.entries(half)) {
      expect(t.data).toBeInstanceOf(Float32Array);
      expect(t.shape).toEqual(full[name].shape);
    }
  });

  it('reads external data relative to the model file, and the same values as inline', () => {
    const external = loadOnnx(join(FIXTURES, 'external_data.onnx')).stateDict();
    const inline = loadOnnx(join(FIXTURES, 'resnet_basic.onnx')).stateDict();
    expect(Object.keys(external).sort()).toEqual(Object.keys(inline).sort());
    for (const [name, t] of Object.entries(inline)) expect(external[name].data).toEqual(t.data);
  });

  it('refuses external data when given only the bytes, naming the tensor and its file', () => {
    expect(() => loadOnnx(fixtureBytes('external_data.onnx'))).toThrow(/external file 'external_data\.onnx\.data'.*load the model from its path/);
  });

  it('keeps a closed model from running', () => {
    const model = loadOnnx(join(FIXTURES, 'lrn_native.onnx'));
    const io = loadSafetensors(join(FIXTURES, 'lrn_native.io.safetensors'));
    model.forward(io.input);
    model.close();
    expect(() => model.forward(io.input)).toThrow(/closed/);
  });

  it('embeds the committed onnx.proto unchanged (npm run build:onnx-schema regenerates it)', () => {
    expect(ONNX_PROTO).toBe(readFileSync(join(import.meta.dirname, '..', 'src', 'onnx', 'schema', 'onnx.proto'), 'utf8'));
  });

  it('names a missing file', () => {
    const err = (() => {
      try {
        loadOnnx(join(FIXTURES, 'no-such-model.onnx'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OnnxError);
    expect((err as Error).message).toMatch(/cannot read .*no-such-model\.onnx/);
  });
});
