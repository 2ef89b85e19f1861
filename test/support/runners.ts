// ConvRunners the model tests run through: the single-thread conv2d, an
// independent per-group decomposition, and the GroupedConvEngine.
import { conv2d, GroupedConvEngine, type Conv2dOptions, type ConvRunner, type Tensor } from '../../src/index.js';

/** conv2d itself: forwardWith through it must equal forward bit for bit. */
export const singleThreadRunner: ConvRunner = { conv2d: (input, weight, bias, options) => conv2d(input, weight, bias, options) };

/**
 * Each channel group as its own ungrouped convolution on copied slices, the
 * results written side by side, returned asynchronously: what a group-parallel
 * engine does, done on this thread, so the async route is checked independently
 * of the engine.
 */
export const perGroupRunner: ConvRunner = {
  async conv2d(input: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions): Promise<Tensor> {
    await Promise.resolve();
    const groups = options.groups ?? 1;
    const [N, Cin, H, W] = input.shape;
    const [Cout, CinG, kH, kW] = weight.shape;
    const CoutG = Cout / groups;
    let output: Tensor | null = null;
    for (let g = 0; g < groups; g++) {
      const x: Tensor = { shape: [N, CinG, H, W], data: new Float32Array(N * CinG * H * W) };
      for (let n = 0; n < N; n++) {
        const from = (n * Cin + g * CinG) * H * W;
        x.data.set(input.data.subarray(from, from + CinG * H * W), n * CinG * H * W);
      }
      const wSize = CoutG * CinG * kH * kW;
      const w: Tensor = { shape: [CoutG, CinG, kH, kW], data: weight.data.slice(g * wSize, (g + 1) * wSize) };
      const b: Tensor | null = bias ? { shape: [CoutG], data: bias.data.slice(g * CoutG, (g + 1) * CoutG) } : null;
      const y = conv2d(x, w, b, { ...options, groups: 1 });
      const [, , Ho, Wo] = y.shape;
      output ??= { shape: [N, Cout, Ho, Wo], data: new Float32Array(N * Cout * Ho * Wo) };
      for (let n = 0; n < N; n++) {
        output.data.set(y.data.subarray(n * CoutG * Ho * Wo, (n + 1) * CoutG * Ho * Wo), (n * Cout + g * CoutG) * Ho * Wo);
      }
    }
    return output!;
  },
};

/** A GroupedConvEngine with `workers` workers; close it when done. */
export function createEngine(workers: number): GroupedConvEngine {
  return new GroupedConvEngine({ workers });
}
