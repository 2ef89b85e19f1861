import type { Conv2dOptions } from '../conv/geometry.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Anything that can run a convolution with conv2d's semantics: the
 * single-thread path (`singleThread`) or a GroupedConvEngine.
 */
export interface ConvRunner {
  conv2d(input: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions): Tensor | Promise<Tensor>;
}
