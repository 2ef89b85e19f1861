import { errors } from '../errors.js';
import { MAX_TENSOR_BYTES, sharedArena } from '../memory/arena.js';

/** An NCHW float32 tensor: row-major `data` of exactly `shape`'s size. Any object of this form is accepted. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export interface AllocationOptions {
  /** Place the tensor in shared memory, where the engine's workers use it without a copy. */
  shared?: boolean;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** A tensor of zeros; with `{ shared: true }` it lives in the shared arena. */
export function zeros(shape: readonly number[], options: AllocationOptions = {}): Tensor {
  const n = numel(checkShape('shape', shape));
  const data = options.shared ? sharedArena().allocateFloat32(n) : new Float32Array(n);
  return { shape: [...shape], data };
}

/** Wraps values (copied) in a tensor of the given shape. */
export function tensor(values: ArrayLike<number>, shape: readonly number[], options: AllocationOptions = {}): Tensor {
  const t = zeros(shape, options);
  if (values.length !== t.data.length) throw errors.dataLength('values', [...shape], t.data.length, values.length);
  t.data.set(values);
  return t;
}

/** A copy of `t` in the shared arena, or `t` itself when it is already there. */
export function toShared(t: Tensor): Tensor {
  if (isShared(t)) return t;
  const copy = zeros(t.shape, { shared: true });
  copy.data.set(t.data);
  return copy;
}

/** Whether the tensor's data lives in the shared arena (usable by workers and kernels without a copy). */
export function isShared(t: Tensor): boolean {
  return sharedArena().owns(t.data);
}

/** Frees a shared tensor's memory now instead of when it is garbage collected. No-op for other tensors. */
export function dispose(...tensors: Tensor[]): void {
  for (const t of tensors) if (t && isShared(t)) sharedArena().release(t.data);
}

export function clone(t: Tensor, options: AllocationOptions = {}): Tensor {
  const copy = zeros(t.shape, options);
  copy.data.set(t.data);
  return copy;
}

/**
 * Checks, before anything is allocated, that a tensor of this shape can exist
 * here (at most MAX_TENSOR_BYTES); `name` is what the error names.
 */
export function checkAllocatable(name: string, shape: readonly number[]): readonly number[] {
  const bytes = numel(shape) * 4;
  if (bytes > MAX_TENSOR_BYTES) throw errors.tensorTooLarge(name, [...shape], bytes, MAX_TENSOR_BYTES);
  return shape;
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw errors.badShapeValue(name, shape);
  return shape as number[];
}

/**
 * Checks that `value` is a well-formed tensor (shape of non-negative integers,
 * Float32Array data of matching length) and, when given, of one of `ranks`.
 */
export function checkTensor(name: string, value: unknown, ranks?: readonly number[]): Tensor {
  if (value === null || typeof value !== 'object' || !('shape' in value) || !('data' in value)) throw errors.notATensor(name, value);
  const t = value as Tensor;
  checkShape(name, t.shape);
  if (!(t.data instanceof Float32Array)) throw errors.notFloat32(name, t.data);
  if (ranks && !ranks.includes(t.shape.length)) {
    throw errors.rank(name, ranks.length === 1 ? `rank ${ranks[0]}` : `rank ${ranks.join(' or ')}`, t.shape);
  }
  const n = numel(t.shape);
  if (t.data.length !== n) throw errors.dataLength(name, t.shape, n, t.data.length);
  return t;
}

/** Where ops' new outputs come from: new memory, or a caller's allocator while withOutputAllocator runs. */
let allocateOutput = (length: number): Float32Array => new Float32Array(length);

/**
 * Runs `run` with ops' new outputs (outputArray without `into`) taken from
 * `allocate`, which must return zero-filled arrays as new Float32Array does: the
 * thread path puts values in its arena this way (src/memory/arena-values.ts), and
 * forwardWith hands an ONNX node its planned slot.
 */
export function withOutputAllocator<T>(allocate: (length: number) => Float32Array, run: () => T): T {
  const previous = allocateOutput;
  allocateOutput = allocate;
  try {
    return run();
  } finally {
    allocateOutput = previous;
  }
}

/**
 * The array an op writes its result into: `into` when the caller supplies one
 * (e.g. a buffer it keeps in its own memory), checked for length, else a new
 * zero-filled one (from the allocator withOutputAllocator set, if any).
 */
export function outputArray(length: number, into?: Float32Array): Float32Array {
  if (into === undefined) return allocateOutput(length);
  if (!(into instanceof Float32Array)) throw errors.notFloat32('into', into);
  if (into.length !== length) throw errors.invalid('into', `must hold ${length} values, got ${into.length}`);
  return into;
}
