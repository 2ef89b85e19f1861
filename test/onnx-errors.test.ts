// Load-time errors: each bad file is built here from a good fixture's bytes
// (decoded, edited, re-encoded), and each error must name what is wrong: the
// node and its operator, the attribute and its value, the tensor and its data
// type, or the byte where decoding stopped.
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, loadOnnx, OnnxError } from '../src/index.js';
import { decodeFixture, encodeModel, fixtureBytes, FIXTURES } from './support/onnx.js';

const dir = mkdtempSync(join(tmpdir(), 'groupconv-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The OnnxError loading `bytes` throws (fails the test if it loads, or throws anything else). */
function loadError(source: Uint8Array | string): OnnxError {
  try {
    loadOnnx(source);
  } catch (e) {
    expect(e).toBeInstanceOf(OnnxError);
    expect(e).toBeInstanceOf(ArgumentError);
    return e as OnnxError;
  }
  throw new Error('the model loaded');
}

/** A fixture decoded, changed by `edit`, re-encoded. */
function edited(file: string, edit: (model: any) => void): Uint8Array {
  const model = decodeFixture(file);
  edit(model);
  return encodeModel(model);
}

const nodeOf = (model: any, opType: string) => model.graph.node.find((n: any) => n.op_type === opType);

describe('an operator outside the set', () => {
  it('names the node, its operator and the opset', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (nodeOf(m, 'Relu').op_type = 'Selu')));
    expect(err.message).toMatch(/node '\/0\/0\.2\/Relu' \(Selu\) uses operator Selu \(opset 12\), which groupconv does not support/);
    expect(err.node).toBe('/0/0.2/Relu');
    expect(err.opType).toBe('Selu');
  });

  it('includes operators of other domains', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (nodeOf(m, 'Conv').domain = 'com.microsoft')));
    expect(err.message).toMatch(/uses operator com\.microsoft\.Conv/);
  });

  it('inside an If branch too', () => {
    const err = loadError(
      edited('alexnet_lrn.onnx', (m) => {
        const branch = nodeOf(m, 'If').attribute.find((a: any) => a.name === 'then_branch').g;
        branch.node[0].op_type = 'Celu';
      }),
    );
    expect(err.message).toMatch(/\(Celu\) uses operator Celu/);
  });
});

describe('an attribute value we do not support', () => {
  it("Pad mode 'reflect': the node, the attribute and its value", () => {
    const err = loadError(
      edited('padded_conv.onnx', (m) => {
        nodeOf(m, 'Pad').attribute.find((a: any) => a.name === 'mode').s = new TextEncoder().encode('reflect');
      }),
    );
    expect(err.message).toMatch(/node '\/Pad' \(Pad\) has attribute mode = 'reflect': only mode 'constant' is supported/);
    expect(err.attribute).toBe('mode');
  });

  it('an attribute the op does not have (a newer opset, a typo)', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => nodeOf(m, 'Relu').attribute = [{ name: 'alpha', type: 1, f: 0.1 }]));
    expect(err.message).toMatch(/\(Relu\) has attribute alpha = 0\.1\d*: groupconv does not implement this attribute/);
  });

  it('an attribute of the wrong type', () => {
    const err = loadError(
      edited('resnet_basic.onnx', (m) => {
        const group = nodeOf(m, 'Conv').attribute.find((a: any) => a.name === 'group');
        Object.assign(group, { type: 1, f: 1.5, i: undefined });
      }),
    );
    expect(err.message).toMatch(/\(Conv\) has attribute group = 1\.5: expected INT, got FLOAT/);
  });

  it('a 3-D convolution', () => {
    const err = loadError(
      edited('resnet_basic.onnx', (m) => {
        nodeOf(m, 'Conv').attribute.find((a: any) => a.name === 'kernel_shape').ints = [3, 3, 3];
      }),
    );
    expect(err.message).toMatch(/attribute kernel_shape = \[3, 3, 3\]: groupconv supports 2-D windows/);
  });

  it('BatchNormalization in training mode, MaxPool with column-major indices, Cast to STRING', () => {
    const bn = loadError(edited('densenet_like.onnx', (m) => (nodeOf(m, 'BatchNormalization').attribute.find((a: any) => a.name === 'training_mode').i = 1)));
    expect(bn.message).toMatch(/\(BatchNormalization\) has attribute training_mode = 1: groupconv runs inference only/);
    const pool = loadError(edited('resnet_basic.onnx', (m) => nodeOf(m, 'MaxPool').attribute.push({ name: 'storage_order', type: 2, i: 1 })));
    expect(pool.message).toMatch(/\(MaxPool\) has attribute storage_order = 1/);
    const cast = loadError(edited('shufflenet_v2.onnx', (m) => (nodeOf(m, 'Cast').attribute[0].i = 8)));
    expect(cast.message).toMatch(/\(Cast\) has attribute to = 8: groupconv casts only to/);
  });
});

describe('a data type we do not support', () => {
  it('an initializer of COMPLEX64, named', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (m.graph.initializer[0].data_type = 14)));
    expect(err.message).toMatch(new RegExp(`initializer '${decodeFixture('resnet_basic.onnx').graph.initializer[0].name.replace(/\./g, '\\.')}' has data type COMPLEX64`));
  });

  it('a graph input that is not float32', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (m.graph.input[0].type.tensor_type.elem_type = 7)));
    expect(err.message).toMatch(/graph input 'input' has data type INT64/);
  });
});

describe('a file that is not ONNX', () => {
  it.each([
    ['an empty file', new Uint8Array(0), /the file is empty/],
    ['text', new TextEncoder().encode('hello, this is not a model\n'), /first byte 0x68 is not the start of a ModelProto field/],
    ['JSON', new TextEncoder().encode('{"ir_version": 8}'), /first byte 0x7b/],
    ['a PNG header', Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13), /not an ONNX model|truncated or corrupted/],
    ['a safetensors file', fixtureBytes('resnet_basic.io.safetensors'), /not an ONNX model|truncated or corrupted/],
  ])('%s', (_, bytes, message) => {
    expect(loadError(bytes).message).toMatch(message);
  });

  it('a protobuf message of another kind (a bare TensorProto)', () => {
    // Field 1 of a TensorProto is dims (varint): the same tag as ir_version, but no graph follows.
    const err = loadError(Uint8Array.of(0x08, 0x03, 0x08, 0x04));
    expect(err.message).toMatch(/not an ONNX model: it has no graph/);
  });
});

describe('a truncated or corrupted file', () => {
  it('truncated: the byte offset where the data ends and what was expected there', () => {
    const bytes = fixtureBytes('resnet_basic.onnx');
    const err = loadError(bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(err.message).toMatch(/is truncated or corrupted at byte 23: the field whose data starts at byte 23 declares 85610 bytes, but the file ends at byte 42818/);
    // Cut inside the first field's tag and length: the same error, at its offset.
    expect(loadError(bytes.subarray(0, 5)).message).toMatch(/at byte 4: a field of 7 bytes starts at byte 4, but the file ends at byte 5/);
    expect(err.offset).toBeGreaterThan(0);
    expect(err.offset).toBeLessThanOrEqual(bytes.length / 2);
  });

  it('an initializer whose shape does not match its data', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (m.graph.initializer[0].dims = [16, 3, 3, 4])));
    expect(err.message).toMatch(/initializer '.*': shape \[16,3,3,4\] of FLOAT needs 2304 bytes, its data has 1728/);
  });

  it('a declared size far beyond the file is refused before allocating', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (m.graph.initializer[0].dims = [1e6, 1e6, 1e3])));
    expect(err.message).toMatch(/declares shape \[1000000,1000000,1000\].*more than groupconv allows/);
  });

  it('a dropped initializer: the node that reads it', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => m.graph.initializer.splice(m.graph.initializer.findIndex((i: any) => i.name === '0.1.running_mean'), 1)));
    expect(err.message).toMatch(/node '\/0\/0\.1\/BatchNormalization' \(BatchNormalization\): input '0\.1\.running_mean' is neither a graph input, an initializer nor the output of an earlier node/);
  });

  it('nodes out of order (or in a cycle) are an error, not a hang', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => m.graph.node.reverse()));
    expect(err.message).toMatch(/is neither a graph input, an initializer nor the output of an earlier node/);
  });

  it('a required input left out', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (nodeOf(m, 'Conv').input[1] = '')));
    expect(err.message).toMatch(/node '\/0\/0\.0\/Conv' \(Conv\): input 1 is required but missing \(Conv takes at least 2\)/);
  });

  it('a value defined twice', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (m.graph.node[1].output = [...m.graph.node[0].output])));
    expect(err.message).toMatch(/node '\/0\/0\.1\/BatchNormalization' \(BatchNormalization\): output '\/0\/0\.0\/Conv_output_0' is already defined/);
  });

  it('an opset groupconv does not read', () => {
    const err = loadError(edited('resnet_basic.onnx', (m) => (m.opset_import[0].version = 99)));
    expect(err.message).toMatch(/opset 99 is outside the opsets groupconv reads/);
  });

  it('external data outside the model directory, or past the end of its file', () => {
    const model = decodeFixture('external_data.onnx');
    const tensor = model.graph.initializer.find((t: any) => t.data_location === 1);
    tensor.external_data.find((e: any) => e.key === 'location').value = '../secret.bin';
    writeFileSync(join(dir, 'escape.onnx'), encodeModel(model));
    expect(loadError(join(dir, 'escape.onnx')).message).toMatch(/external data location '\.\.\/secret\.bin' is outside the model's directory/);

    const past = decodeFixture('external_data.onnx');
    const t = past.graph.initializer.find((x: any) => x.data_location === 1);
    t.external_data.find((e: any) => e.key === 'offset').value = '81000';
    writeFileSync(join(dir, 'past.onnx'), encodeModel(past));
    copyFileSync(join(FIXTURES, 'external_data.onnx.data'), join(dir, 'external_data.onnx.data'));
    expect(loadError(join(dir, 'past.onnx')).message).toMatch(/external data \[81000, \d+\) runs past the end of 'external_data\.onnx\.data' \(81128 bytes\)/);
  });
});
