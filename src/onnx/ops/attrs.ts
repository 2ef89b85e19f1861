// Reading a node's attributes while preparing its kernel, at load time.
// Each read checks the attribute's type; done() then rejects any attribute the
// op did not read, so an attribute groupconv does not implement (a newer opset's,
// a training option) is an error naming it instead of being silently ignored.
import { errors } from '../../errors.js';
import type { AttributeValue, Kernel, OnnxGraph, OnnxNode } from '../graph.js';
import type { LoadContext } from '../tensor-proto.js';
import type { Value } from '../value.js';

export class Attributes {
  private readonly read = new Set<string>();
  constructor(
    readonly node: OnnxNode,
    readonly ctx: LoadContext,
  ) {}

  private get(name: string, type: AttributeValue['type']): AttributeValue | undefined {
    this.read.add(name);
    const a = this.node.attributes.get(name);
    if (a && a.type !== type) throw this.unsupported(name, a.value, `expected ${type}, got ${a.type}`);
    return a;
  }

  has(name: string): boolean {
    return this.node.attributes.has(name);
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    const a = this.get(name, 'INT');
    return a ? (a.value as number) : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.get(name, 'FLOAT');
    return a ? (a.value as number) : fallback;
  }

  string(name: string, fallback: string): string {
    const a = this.get(name, 'STRING');
    return a ? (a.value as string) : fallback;
  }

  ints(name: string): number[] | undefined {
    const a = this.get(name, 'INTS');
    return a ? (a.value as number[]) : undefined;
  }

  floats(name: string): number[] | undefined {
    const a = this.get(name, 'FLOATS');
    return a ? (a.value as number[]) : undefined;
  }

  tensor(name: string): Value | undefined {
    const a = this.get(name, 'TENSOR');
    return a ? (a.value as Value) : undefined;
  }

  graph(name: string): OnnxGraph | undefined {
    const a = this.get(name, 'GRAPH');
    return a ? (a.value as OnnxGraph) : undefined;
  }

  /** Accepts an attribute that does not change inference (e.g. BatchNormalization's momentum). */
  ignore(...names: string[]): void {
    for (const n of names) this.read.add(n);
  }

  /** An OnnxError for attribute `name` = `value`: `why`. */
  unsupported(name: string, value: unknown, why: string): Error {
    return errors.onnxUnsupportedAttribute(this.ctx.source, this.node, name, value, why);
  }

  /** Checks a read value: throws unless `ok`. */
  require(ok: boolean, name: string, value: unknown, why: string): void {
    if (!ok) throw this.unsupported(name, value, why);
  }

  /** Call after reading: any attribute left unread is one this op does not implement. */
  done(): void {
    for (const [name, a] of this.node.attributes) {
      if (!this.read.has(name)) throw this.unsupported(name, a.type === 'GRAPH' || a.type === 'TENSOR' ? a.type : a.value, 'groupconv does not implement this attribute');
    }
  }
}

/** Runtime failures inside a kernel, with the op's words; the model adds the node. */
export function fail(message: string): never {
  throw errors.onnxValue(message);
}

/** Positive integers no larger than a sane bound (kernel sizes, strides, dilations). */
export function positiveInts(values: number[] | undefined): boolean {
  return values === undefined || values.every((v) => Number.isInteger(v) && v >= 1 && v <= 1 << 16);
}

export function nonNegativeInts(values: number[] | undefined): boolean {
  return values === undefined || values.every((v) => Number.isInteger(v) && v >= 0 && v <= 1 << 16);
}

/** Reads and checks a node's attributes at load and returns the kernel that runs it (one per op type, in ops/index.ts). */
export type OpFactory = (a: Attributes, opset: number, node: OnnxNode, initializer: (name: string) => Value | undefined) => Kernel;
