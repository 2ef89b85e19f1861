// The model as groupconv holds it: a graph of nodes in execution order, each
// with its attributes decoded (numbers, strings, tensors as Values, subgraphs
// as OnnxGraphs) and its kernel prepared once at load; initializers as Values.
// Later stages (engine convolutions, fusion, a memory plan) work on this, not
// on protobuf messages.
import { errors, type OnnxNodeRef } from '../errors.js';
import { asBytes, ATTRIBUTE_TYPES, dataTypeName, toNumber, type AttributeProto, type GraphProto, type NodeProto, type ValueInfoProto } from './proto.js';
import { tensorFromProto, type LoadContext } from './tensor-proto.js';
import type { Value } from './value.js';

export type AttributeValue =
  | { type: 'FLOAT'; value: number }
  | { type: 'INT'; value: number }
  | { type: 'STRING'; value: string }
  | { type: 'TENSOR'; value: Value }
  | { type: 'GRAPH'; value: OnnxGraph }
  | { type: 'FLOATS'; value: number[] }
  | { type: 'INTS'; value: number[] }
  | { type: 'STRINGS'; value: string[] };

/** Computes a node's outputs from its inputs (absent optional inputs are undefined). */
export type Kernel = (inputs: readonly (Value | undefined)[]) => Value[];

export interface OnnxNode extends OnnxNodeRef {
  name: string;
  opType: string;
  domain: string;
  /** Input value names; '' marks an absent optional input, as in ONNX. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, AttributeValue>;
  /** The node's computation, its attributes resolved and checked (ops/index.ts). */
  run: Kernel;
}

export interface ValueInfo {
  name: string;
  /** Dimensions: numbers, or strings for symbolic ones ('batch'); null when the file gives no shape. */
  shape: (number | string)[] | null;
  /** 'float32', or the ONNX type's name for others ('INT64', ...). */
  dtype: string;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  /** Initializers by name, decoded (FLOAT16 widened to float32, integers as int64 Values). */
  initializers: Map<string, Value>;
  /** The inputs a caller feeds (initializers that also appear as inputs are left out). */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

/** Prepares a node's kernel, or throws OnnxError when the node is outside what groupconv runs. */
export type KernelFactory = (node: OnnxNode, opset: number, ctx: LoadContext, initializer: (name: string) => Value | undefined) => Kernel;

const decoder = new TextDecoder();

/**
 * Builds the graph from its proto: decodes initializers and attributes, prepares
 * every node's kernel, and checks that each node's inputs exist before it
 * (ONNX requires topological order, so one pass suffices and a cycle is an error,
 * not a hang). `outer` names values visible from an enclosing graph (If branches).
 */
export function buildGraph(proto: GraphProto, opset: number, ctx: LoadContext, prepare: KernelFactory, outer: ReadonlySet<string> = new Set()): OnnxGraph {
  const initializers = new Map<string, Value>();
  for (const t of proto.initializer) {
    initializers.set(t.name, tensorFromProto(t, `initializer '${t.name}'`, ctx));
  }
  if (proto.sparse_initializer.length > 0) throw errors.onnxInvalid(ctx.source, 'the graph has sparse initializers, which groupconv does not support');
  const known = new Set<string>([...outer, ...initializers.keys()]);
  const inputs = proto.input.filter((v) => !initializers.has(v.name)).map((v) => valueInfo(v, ctx));
  for (const v of inputs) known.add(v.name);
  const nodes: OnnxNode[] = [];
  for (const p of proto.node) {
    const node = decodeNode(p, opset, ctx, prepare, known, initializers);
    for (const name of node.inputs) {
      if (name !== '' && !known.has(name)) {
        throw errors.onnxInvalid(ctx.source, `input '${name}' is neither a graph input, an initializer nor the output of an earlier node`, node);
      }
    }
    for (const name of node.outputs) {
      if (name === '') continue;
      // ONNX graphs are single-assignment: a second definition would silently replace the first.
      if (known.has(name)) throw errors.onnxInvalid(ctx.source, `output '${name}' is already defined by an earlier node, an initializer or an input`, node);
      known.add(name);
    }
    nodes.push(node);
  }
  const outputs = proto.output.map((v) => valueInfo(v, ctx));
  for (const o of outputs) {
    if (!known.has(o.name)) throw errors.onnxInvalid(ctx.source, `graph output '${o.name}' is not computed by any node`);
  }
  return { name: proto.name, nodes, initializers, inputs, outputs };
}

function valueInfo(v: ValueInfoProto, ctx: LoadContext): ValueInfo {
  const tensor = v.type?.tensor_type;
  if (!tensor) throw errors.onnxInvalid(ctx.source, `graph value '${v.name}' is not a tensor (sequences, maps and optionals are not supported)`);
  const dtype = tensor.elem_type === 1 ? 'float32' : dataTypeName(tensor.elem_type);
  const shape = tensor.shape ? tensor.shape.dim.map((d) => (d.value === 'dim_value' ? toNumber(d.dim_value) : d.value === 'dim_param' ? d.dim_param! : '?')) : null;
  return { name: v.name, shape, dtype };
}

function decodeNode(
  p: NodeProto,
  opset: number,
  ctx: LoadContext,
  prepare: KernelFactory,
  known: ReadonlySet<string>,
  initializers: ReadonlyMap<string, Value>,
): OnnxNode {
  const node: OnnxNode = {
    name: p.name,
    opType: p.op_type,
    domain: p.domain === 'ai.onnx' ? '' : p.domain,
    inputs: [...p.input],
    outputs: [...p.output],
    attributes: new Map(),
    run: () => [],
  };
  for (const a of p.attribute) {
    node.attributes.set(a.name, decodeAttribute(a, node, opset, ctx, prepare, known));
  }
  node.run = prepare(node, opset, ctx, (name) => initializers.get(name));
  return node;
}

function decodeAttribute(a: AttributeProto, node: OnnxNode, opset: number, ctx: LoadContext, prepare: KernelFactory, known: ReadonlySet<string>): AttributeValue {
  const where = `attribute ${a.name} of node '${node.name}' (${node.opType})`;
  if (a.ref_attr_name) throw errors.onnxUnsupportedAttribute(ctx.source, node, a.name, `@${a.ref_attr_name}`, 'references to function attributes are not supported');
  switch (a.type) {
    case 1:
      return { type: 'FLOAT', value: a.f };
    case 2:
      return { type: 'INT', value: toNumber(a.i) };
    case 3:
      return { type: 'STRING', value: decoder.decode(asBytes(a.s)) };
    case 4:
      if (!a.t) throw errors.onnxInvalid(ctx.source, `${where} is a TENSOR without a tensor`);
      return { type: 'TENSOR', value: tensorFromProto(a.t, where, ctx) };
    case 5:
      if (!a.g) throw errors.onnxInvalid(ctx.source, `${where} is a GRAPH without a graph`);
      return { type: 'GRAPH', value: buildGraph(a.g, opset, ctx, prepare, known) };
    case 6:
      return { type: 'FLOATS', value: [...a.floats] };
    case 7:
      return { type: 'INTS', value: a.ints.map(toNumber) };
    case 8:
      return { type: 'STRINGS', value: a.strings.map((s) => decoder.decode(asBytes(s))) };
    default:
      throw errors.onnxUnsupportedAttribute(ctx.source, node, a.name, ATTRIBUTE_TYPES[a.type] ?? `type ${a.type}`, 'attributes of this type are not supported');
  }
}

/** Every node of a graph and of the graphs inside its nodes' attributes. */
export function* allNodes(graph: OnnxGraph): Generator<OnnxNode> {
  for (const node of graph.nodes) {
    yield node;
    for (const a of node.attributes.values()) if (a.type === 'GRAPH') yield* allNodes(a.value);
  }
}
