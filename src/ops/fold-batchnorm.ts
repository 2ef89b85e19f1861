// BatchNormalization after a convolution, folded into the convolution's weight
// and bias once, at load (what every inference runtime does): per output
// channel c, with scale = gamma[c] / sqrt(runningVar[c] + eps),
//   weight'[c] = weight[c] * scale
//   bias'[c]   = (bias[c] - runningMean[c]) * scale + beta[c]
// computed in float64 and rounded to float32 once. The folded convolution
// differs from conv then batch norm by rounding only (test/fold-batchnorm.test.ts).
import { errors } from '../errors.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import type { BatchNormParameters } from './normalization.js';

export interface FoldedConv {
  /** [Cout, Cin/groups, kH, kW], the convolution's weight scaled per output channel. */
  weight: Tensor;
  /** [Cout]: always present (the batch norm's shift). */
  bias: Tensor;
}

/**
 * The convolution weight and bias that compute conv(x, weight, bias) followed
 * by batch_norm(·, runningMean, runningVar, bn.weight, bn.bias, eps) in
 * inference mode (eps defaults to 1e-5, as BatchNorm2d's). New tensors; the
 * arguments are not modified.
 */
export function foldBatchNorm(weight: Tensor, bias: Tensor | null | undefined, bn: BatchNormParameters): FoldedConv {
  const w = checkTensor('weight', weight, [4]);
  const outChannels = w.shape[0];
  const b = bias === null || bias === undefined ? null : checkTensor('bias', bias);
  if (b && (b.shape.length !== 1 || b.shape[0] !== outChannels)) throw errors.biasLength(b.shape, outChannels);
  if (bn === null || typeof bn !== 'object') throw errors.invalid('bn', 'expected { runningMean, runningVar, weight?, bias?, eps? }');
  const perChannel = (name: string, t: Tensor | null | undefined, required: boolean): Float32Array | null => {
    if (t === null || t === undefined) {
      if (required) throw errors.notATensor(name, t);
      return null;
    }
    const checked = checkTensor(name, t);
    if (checked.shape.length !== 1 || checked.shape[0] !== outChannels) throw errors.batchNormLength(`${name}.shape`, outChannels, checked.shape);
    return checked.data;
  };
  const mean = perChannel('runningMean', bn.runningMean, true)!;
  const variance = perChannel('runningVar', bn.runningVar, true)!;
  const gamma = perChannel('bn.weight', bn.weight, false);
  const beta = perChannel('bn.bias', bn.bias, false);
  const eps = bn.eps ?? 1e-5;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw errors.batchNormEps(eps);

  const perOut = w.data.length / Math.max(1, outChannels);
  const folded = new Float32Array(w.data.length);
  const shift = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    const scale = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
    for (let i = c * perOut; i < (c + 1) * perOut; i++) folded[i] = w.data[i] * scale;
    shift[c] = ((b ? b.data[c] : 0) - mean[c]) * scale + (beta ? beta[c] : 0);
  }
  return { weight: { shape: [...w.shape], data: folded }, bias: { shape: [outChannels], data: shift } };
}
