import { errors } from '../errors.js';
import { linearKernel } from '../kernels/linear.js';
import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

/**
 * torch.nn.functional.linear: x [..., in] times weight [out, in] transposed,
 * plus bias [out]. Float32 sums in the WebAssembly kernel (kernels/linear.ts);
 * double-precision sums in JavaScript where that cannot run.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, into?: Float32Array): Tensor {
  checkTensor('x', x);
  checkTensor('weight', weight, [2]);
  const [outFeatures, inFeatures] = weight.shape;
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== inFeatures) {
    throw errors.invalid('x.shape', `last dimension must be ${inFeatures} (weight [${weight.shape}]), got [${x.shape}]`);
  }
  if (bias) {
    checkTensor('bias', bias, [1]);
    if (bias.shape[0] !== outFeatures) throw errors.shapeMismatch('bias.shape', [outFeatures], bias.shape);
  }
  const rows = x.data.length / inFeatures;
  const out = outputArray(rows * outFeatures, into);
  if (linearKernel(x.data, weight.data, bias?.data ?? null, out, rows, inFeatures, outFeatures)) {
    return { shape: [...x.shape.slice(0, -1), outFeatures], data: out };
  }
  const w = weight.data;
  for (let r = 0; r < rows; r++) {
    const xRow = r * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const wRow = o * inFeatures;
      let sum = 0;
      for (let i = 0; i < inFeatures; i++) sum += x.data[xRow + i] * w[wRow + i];
      out[r * outFeatures + o] = sum + (bias ? bias.data[o] : 0);
    }
  }
  return { shape: [...x.shape.slice(0, -1), outFeatures], data: out };
}
