// The operator set: each op type's factory reads and checks the node's
// attributes once, at load, and returns the kernel that runs it. An op type
// outside this table, or in another domain, is a load-time OnnxError.
import { errors } from '../../errors.js';
import type { KernelFactory, OnnxNode } from '../graph.js';
import type { LoadContext } from '../tensor-proto.js';
import { Attributes, fail, type OpFactory } from './attrs.js';
import { convOps } from './conv.js';
import { elementwiseOps } from './elementwise.js';
import { matmulOps } from './matmul.js';
import { normalizationOps } from './normalization.js';
import { poolOps } from './pool.js';
import { shapeOps } from './shape.js';

export type { OpFactory } from './attrs.js';

const controlOps: Record<string, OpFactory> = {
  // If runs in plan.ts: its condition must fold to a constant once shapes are known
  // (torch's LRN export tests a dimension), and the chosen branch is inlined.
  If: (a) => {
    const then = a.graph('then_branch');
    const otherwise = a.graph('else_branch');
    a.require(then !== undefined && otherwise !== undefined, 'then_branch', then ? 'present' : 'missing', 'If needs then_branch and else_branch');
    a.done();
    return () => fail('If is evaluated by the plan, not as a kernel');
  },
};

export const OPERATORS: Record<string, OpFactory> = {
  ...convOps,
  ...poolOps,
  ...matmulOps,
  ...normalizationOps,
  ...elementwiseOps,
  ...shapeOps,
  ...controlOps,
};

export const SUPPORTED_OPERATORS: readonly string[] = Object.keys(OPERATORS).sort();

/** The opsets of the default domain groupconv reads (the ops' attribute rules are written for these). */
export const MIN_OPSET = 7;
export const MAX_OPSET = 21;

// How many leading inputs each op requires (the rest are optional, or variadic);
// ops not listed need one. Some moved from attributes to inputs at an opset.
const REQUIRED_INPUTS: Record<string, number | ((opset: number) => number)> = {
  Constant: 0,
  Conv: 2,
  Gemm: 2,
  MatMul: 2,
  Add: 2,
  Sub: 2,
  Mul: 2,
  Div: 2,
  Pow: 2,
  Equal: 2,
  Less: 2,
  Greater: 2,
  PRelu: 2,
  Reshape: 2,
  Expand: 2,
  Gather: 2,
  LayerNormalization: 2,
  Where: 3,
  BatchNormalization: 5,
  Slice: (opset) => (opset < 10 ? 1 : 3),
  Pad: (opset) => (opset < 11 ? 1 : 2),
  Unsqueeze: (opset) => (opset < 13 ? 1 : 2),
};

/** The KernelFactory buildGraph calls for every node. */
export const prepareKernel: KernelFactory = (node: OnnxNode, opset: number, ctx: LoadContext, initializer) => {
  const factory = node.domain === '' && Object.hasOwn(OPERATORS, node.opType) ? OPERATORS[node.opType] : undefined;
  if (!factory) throw errors.onnxUnsupportedOperator(ctx.source, node, opset, SUPPORTED_OPERATORS);
  const rule = Object.hasOwn(REQUIRED_INPUTS, node.opType) ? REQUIRED_INPUTS[node.opType] : 1;
  const required = typeof rule === 'number' ? rule : rule(opset);
  for (let i = 0; i < required; i++) {
    if (!node.inputs[i]) throw errors.onnxInvalid(ctx.source, `input ${i} is required but missing (${node.opType} takes at least ${required})`, node);
  }
  return factory(new Attributes(node, ctx), opset, node, initializer);
};
