import { errors } from '../errors.js';
import { stridesOf, type Tensor } from './tensor.js';

/**
 * A strided window on a tensor's data (scijs ndarray style): data + shape +
 * strides + offset. Taking a view copies nothing; a channel group of an NCHW
 * tensor is a view.
 */
export interface TensorView {
  readonly data: Float32Array;
  readonly shape: number[];
  readonly strides: number[];
  readonly offset: number;
}

export function viewOf(t: Tensor): TensorView {
  return { data: t.data, shape: [...t.shape], strides: stridesOf(t.shape), offset: 0 };
}

/** Channels [start, end) of an NCHW tensor or view, without copying. */
export function channelRange(source: Tensor | TensorView, start: number, end: number): TensorView {
  const v = 'strides' in source ? source : viewOf(source);
  if (v.shape.length !== 4) throw errors.rank('source', 'rank 4 (NCHW)', v.shape);
  const channels = v.shape[1];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > channels || start > end) {
    throw errors.invalid('range', `channel range [${start}, ${end}) is outside [0, ${channels})`);
  }
  const shape = [...v.shape];
  shape[1] = end - start;
  return { data: v.data, shape, strides: [...v.strides], offset: v.offset + start * v.strides[1] };
}

/** Group `index` of `groups` equal channel groups, as a view. */
export function channelGroup(source: Tensor | TensorView, index: number, groups: number): TensorView {
  const channels = source.shape[1];
  if (!Number.isInteger(groups) || groups <= 0) throw errors.notPositiveInteger('groups', groups);
  if (channels % groups !== 0) throw errors.channelsNotDivisible('groups', channels, groups);
  if (!Number.isInteger(index) || index < 0 || index >= groups) throw errors.invalid('index', `group ${index} is outside [0, ${groups})`);
  const size = channels / groups;
  return channelRange(source, index * size, (index + 1) * size);
}

/** Element at a multi-index of a view. */
export function at(v: TensorView, ...index: number[]): number {
  let i = v.offset;
  for (let d = 0; d < index.length; d++) i += index[d] * v.strides[d];
  return v.data[i];
}

/** A contiguous copy of a view, as a plain tensor. */
export function materialize(v: TensorView): Tensor {
  const size = v.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const rank = v.shape.length;
  const index = new Array<number>(rank).fill(0);
  for (let k = 0; k < size; k++) {
    let src = v.offset;
    for (let d = 0; d < rank; d++) src += index[d] * v.strides[d];
    out[k] = v.data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < v.shape[d]) break;
      index[d] = 0;
    }
  }
  return { shape: [...v.shape], data: out };
}
