// The operator set: each op type's factory reads and checks the node's
// attributes once, at load, and returns the kernel that runs it. An op type
// outside this table, or in another domain, is a load-time OnnxError.
import { errors } from '../../errors.js';
import type { Kernel, KernelFactory, OnnxNode } from '../graph.js';
import type { LoadContext } from '../tensor-proto.js';
import type { Value } from '../value.js';
import { Attributes, fail } from './attrs.js';
import { convOps } from './conv.js';
import { elementwiseOps } from './elementwise.js';
import { matmulOps } from './matmul.js';
import { normalizationOps } from './normalization.js';
import { poolOps } from './pool.js';
import { shapeOps } from './shape.js';

export type OpFactory = (a: Attributes, opset: number, node: OnnxNode, initializer: (name: string) => Value | undefined) => Kernel;

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

/** The KernelFactory buildGraph calls for every node. */
export const prepareKernel: KernelFactory = (node: OnnxNode, opset: number, ctx: LoadContext, initializer) => {
  const factory = node.domain === '' && Object.hasOwn(OPERATORS, node.opType) ? OPERATORS[node.opType] : undefined;
  if (!factory) throw errors.onnxUnsupportedOperator(ctx.source, node, opset, SUPPORTED_OPERATORS);
  return factory(new Attributes(node, ctx), opset, node, initializer);
};
