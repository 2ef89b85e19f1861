// A one-node ONNX model (Conv with its weights as initializers), encoded by
// hand: the protobuf wire format needs only varints and length-delimited
// fields, and this avoids a Python onnx toolchain for a single node.

type Field = Uint8Array;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    bytes.push(b);
  } while (v > 0n);
  return bytes;
}

const concat = (parts: (Uint8Array | number[])[]): Uint8Array => {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const intField = (field: number, value: number): Field => new Uint8Array([...varint(field << 3), ...varint(value)]);
const bytesField = (field: number, bytes: Uint8Array): Field => concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
const stringField = (field: number, text: string): Field => bytesField(field, new TextEncoder().encode(text));
const message = (field: number, ...parts: Field[]): Field => bytesField(field, concat(parts));

const FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

function attributeInts(name: string, values: number[]): Field {
  return message(5, stringField(1, name), intField(20, ATTRIBUTE_INTS), ...values.map((v) => intField(8, v)));
}

function tensorProto(name: string, dims: number[], data: Float32Array): Field {
  return message(5, ...dims.map((d) => intField(1, d)), intField(2, FLOAT), stringField(8, name), bytesField(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
}

function valueInfo(field: number, name: string, dims: number[]): Field {
  const shape = concat(dims.map((d) => message(1, intField(1, d))));
  const tensorType = concat([intField(1, FLOAT), bytesField(2, shape)]);
  return message(field, stringField(1, name), message(2, bytesField(1, tensorType)));
}

export interface OnnxConvSpec {
  inputShape: number[];
  weightShape: number[];
  outputShape: number[];
  weight: Float32Array;
  bias: Float32Array | null;
  stride: [number, number];
  dilation: [number, number];
  /** [top, left, bottom, right], ONNX order. */
  pads: [number, number, number, number];
  groups: number;
}

/** ModelProto bytes of Y = Conv(X, W, B) at opset 13. */
export function onnxConvModel(spec: OnnxConvSpec): Uint8Array {
  const inputs = ['X', 'W', ...(spec.bias ? ['B'] : [])];
  const node = message(
    1,
    ...inputs.map((name) => stringField(1, name)),
    stringField(2, 'Y'),
    stringField(3, 'conv'),
    stringField(4, 'Conv'),
    attributeInts('kernel_shape', spec.weightShape.slice(2)),
    attributeInts('strides', spec.stride),
    attributeInts('dilations', spec.dilation),
    attributeInts('pads', spec.pads),
    message(5, stringField(1, 'group'), intField(20, ATTRIBUTE_INT), intField(3, spec.groups)),
  );
  const graph = message(
    7,
    node,
    stringField(2, 'conv_graph'),
    tensorProto('W', spec.weightShape, spec.weight),
    ...(spec.bias ? [tensorProto('B', [spec.bias.length], spec.bias)] : []),
    valueInfo(11, 'X', spec.inputShape),
    valueInfo(12, 'Y', spec.outputShape),
  );
  return concat([intField(1, 8), stringField(2, 'groupconv-bench'), graph, message(8, stringField(1, ''), intField(2, 13))]);
}
