import type { ConvKernel } from './kernel.js';

/**
 * The reference kernel: direct loops, written for clarity. Sums run in double
 * precision and are rounded to float32 once, so this is the oracle the fast
 * kernels and the engine are checked against.
 */
export const referenceKernel: ConvKernel = (g, input, weight, bias, output, slice) => {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, kernelHeight: kH, kernelWidth: kW } = g;
  const cinPerGroup = g.inChannelsPerGroup;
  const coutPerGroup = g.outChannelsPerGroup;
  for (let n = slice.batchStart; n < slice.batchEnd; n++) {
    for (let oc = slice.outChannelStart; oc < slice.outChannelEnd; oc++) {
      const group = Math.floor(oc / coutPerGroup);
      const firstInChannel = group * cinPerGroup;
      const initial = bias ? bias[oc] : 0;
      for (let oy = 0; oy < Ho; oy++) {
        for (let ox = 0; ox < Wo; ox++) {
          let sum = 0;
          for (let ic = 0; ic < cinPerGroup; ic++) {
            const inputPlane = (n * g.inChannels + firstInChannel + ic) * H * W;
            const weightPlane = (oc * cinPerGroup + ic) * kH * kW;
            for (let ky = 0; ky < kH; ky++) {
              const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < kW; kx++) {
                const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
                if (ix < 0 || ix >= W) continue;
                sum += input[inputPlane + iy * W + ix] * weight[weightPlane + ky * kW + kx];
              }
            }
          }
          output[((n * g.outChannels + oc) * Ho + oy) * Wo + ox] = sum + initial;
        }
      }
    }
  }
};
