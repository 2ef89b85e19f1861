// The golden suite through the fast kernels: in place on shared memory (the
// engine's way), through both WebAssembly builds, and through the JavaScript
// fallback used where WebAssembly SIMD is missing.
import { afterAll, describe, expect, it } from 'vitest';
import { conv2d, resolveShapes } from '../src/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { nativeDirectConvolutions, planConv, releasePlan, wasmKernelsAvailable } from '../src/kernels/plan/index.js';
import { hasWasmSimd } from '../src/kernels/wasm/runtime.js';
import { goldenConvSuite } from './support/conv-suite.js';
import { runThroughPlan } from './support/kernel-run.js';

describe('kernel choice', () => {
  it('has WebAssembly SIMD on this Node', () => {
    expect(hasWasmSimd()).toBe(true);
  });

  const cases: [string, number[], number[], object, string][] = [
    ['depthwise', [1, 8, 10, 10], [8, 1, 3, 3], { groups: 8, padding: 1 }, 'depthwise'],
    ['depthwise with channel multiplier 2', [1, 8, 10, 10], [16, 1, 3, 3], { groups: 8 }, 'depthwise'],
    ['grouped 1x1 with stride', [1, 8, 10, 10], [8, 2, 1, 1], { groups: 4, stride: 2 }, 'pointwise'],
    ['small groups (4 channels each)', [1, 16, 10, 10], [16, 4, 3, 3], { groups: 4, padding: 1 }, 'small-groups'],
    ['large groups (48 channels each), 5x5 at stride 1', [1, 96, 9, 9], [64, 48, 5, 5], { groups: 2, padding: 2 }, 'winograd'],
    ['large groups (48 channels each), 7x7: Winograd would save too little', [1, 96, 9, 9], [64, 48, 7, 7], { groups: 2, padding: 3 }, 'general'],
    ['large groups (48 channels each), 4x4: Winograd would save nothing', [1, 96, 9, 9], [64, 48, 4, 4], { groups: 2 }, 'general'],
    ['3x3 at stride 1, 32 channels per group', [1, 64, 9, 9], [16, 32, 3, 3], { groups: 2, padding: 1 }, 'winograd'],
    ['3x3 at stride 1, 31 channels per group', [1, 62, 9, 9], [16, 31, 3, 3], { groups: 2, padding: 1 }, 'general'],
    ['3x3 at stride 2, 64 channels', [1, 64, 9, 9], [16, 64, 3, 3], { stride: 2 }, 'general'],
    ['3x3 dilated, 64 channels', [1, 64, 9, 9], [16, 64, 3, 3], { dilation: 2 }, 'general'],
  ];
  for (const [name, x, w, options, kind] of cases) {
    it(`${name} -> ${kind}${kind === 'winograd' ? ' (without the native kernels)' : ''}`, () => {
      // Where the native kernels run, they take Winograd's layers direct (the next test): off here.
      const previous = configureKernels(kind === 'winograd' ? { native: false } : {});
      try {
        const plan = planConv(resolveShapes(x, w, null, options).geometry, new Float32Array(w.reduce((a, b) => a * b)));
        expect(plan.kind).toBe(kind);
        expect(plan.packed).not.toBeNull();
        releasePlan(plan);
        expect(plan.packed).toBeNull();
      } finally {
        configureKernels(previous);
      }
    });
  }

  it.skipIf(!nativeDirectConvolutions())('with the native kernels, layers Winograd would take stay direct, and run natively', () => {
    for (const [, x, w, options, kind] of cases.filter((c) => c[4] === 'winograd')) {
      const plan = planConv(resolveShapes(x, w, null, options).geometry, new Float32Array(w.reduce((a, b) => a * b)));
      expect(plan.kind, JSON.stringify(w)).toBe(w[1] <= 16 ? 'small-groups' : 'general');
      expect(kind).toBe('winograd');
      releasePlan(plan);
    }
  });
});

describe('tap patterns found at planning', () => {
  const layoutOf = (x: number[], w: number[], options: object) => {
    const plan = planConv(resolveShapes(x, w, null, options).geometry, new Float32Array(w.reduce((a, b) => a * b)));
    const layout = plan.wasm; // releasePlan clears it
    releasePlan(plan);
    return layout;
  };
  it('1x1 read in place: taps one input plane apart (28 x 28 floats = 3,136 bytes)', () => {
    expect(layoutOf([1, 240, 28, 28], [240, 30, 1, 1], { groups: 8 })).toMatchObject({ directInput: true, channelStride: 784, tapStep: 3136, threeRuns: false });
  });
  it('3x3 at stride 1: three runs of three adjacent taps, no uniform step', () => {
    expect(layoutOf([1, 8, 10, 10], [8, 1, 3, 3], { groups: 8, padding: 1 })).toMatchObject({ tapStep: 0, threeRuns: true });
  });
  it('3x3 at stride 2 (phase planes) or dilated: neither pattern', () => {
    expect(layoutOf([1, 8, 10, 10], [8, 1, 3, 3], { groups: 8, padding: 1, stride: 2 })).toMatchObject({ tapStep: 0, threeRuns: false });
    expect(layoutOf([1, 8, 10, 10], [8, 1, 3, 3], { groups: 8, padding: 2, dilation: 2 })).toMatchObject({ tapStep: 0, threeRuns: false });
  });
});

describe('microkernel chosen at planning', () => {
  const microkernelOf = (x: number[], w: number[], options: object) => {
    const plan = planConv(resolveShapes(x, w, null, options).geometry, new Float32Array(w.reduce((a, b) => a * b)));
    releasePlan(plan);
    return plan.microkernel;
  };
  const cases: [string, number[], number[], object, string][] = [
    ['depthwise 3x3, padding 1: input read in place', [1, 8, 10, 10], [8, 1, 3, 3], { groups: 8, padding: 1 }, 'depthwise3x3InPlace'],
    ['depthwise 3x3, padding 1, multiplier 4: 4-channel blocks, so padded planes', [1, 8, 10, 10], [32, 1, 3, 3], { groups: 8, padding: 1 }, 'depthwise3x3Rows'],
    ['depthwise 3x3 at stride 2, padding 1: input read in place', [1, 8, 10, 10], [8, 1, 3, 3], { groups: 8, padding: 1, stride: 2 }, 'depthwise3x3Stride2InPlace'],
    ['depthwise 3x3 at stride 2, padding 0: phase planes', [1, 8, 10, 10], [8, 1, 3, 3], { groups: 8, stride: 2 }, 'depthwiseTaps9'],
    ['depthwise 3x3 at stride 2, multiplier 4: 4-channel blocks, so phase planes', [1, 8, 10, 10], [32, 1, 3, 3], { groups: 8, padding: 1, stride: 2 }, 'depthwiseTaps9'],
    ['depthwise 5x5', [1, 8, 10, 10], [8, 1, 5, 5], { groups: 8, padding: 2 }, 'direct'],
    ['grouped 1x1, 30 channels per group', [1, 240, 28, 28], [240, 30, 1, 1], { groups: 8 }, 'pointwiseStrided'],
    ['1x1 over 9 channels per group', [1, 18, 6, 6], [6, 9, 1, 1], { groups: 2 }, 'pointwiseStridedTaps9'],
    ['small groups 3x3', [1, 16, 10, 10], [16, 4, 3, 3], { groups: 4, padding: 1 }, 'direct'],
    ['3x3 at stride 1, 32 channels per group', [1, 64, 9, 9], [16, 32, 3, 3], { groups: 2, padding: 1 }, 'winograd'],
  ];
  for (const [name, x, w, options, microkernel] of cases) {
    it(`${name} -> ${microkernel}`, () => {
      // Where the native kernels run, they take Winograd's layers direct: off for that case.
      const previous = configureKernels(microkernel === 'winograd' ? { native: false } : {});
      try {
        expect(microkernelOf(x, w, options)).toBe(microkernel);
      } finally {
        configureKernels(previous);
      }
    });
  }
});

goldenConvSuite('fast kernels, in place on shared memory', (input, weight, bias, options) => {
  const { plan, output } = runThroughPlan(input, weight, bias, options);
  expect(plan.kind).not.toBe('reference');
  return output;
});

goldenConvSuite('fast kernels, plain arrays staged through the arena', conv2d);

for (const mode of [true, false]) {
  goldenConvSuite(`fast kernels, ${mode ? 'plane' : 'row'} mode forced`, (input, weight, bias, options) => {
    const previous = configureKernels({ planeMode: mode });
    try {
      return runThroughPlan(input, weight, bias, options).output;
    } finally {
      configureKernels(previous);
    }
  });
}

// Winograd wherever it applies (3x3, stride 1, dilation 1: any channel count
// but 1), in both builds, the native kernels off (they would take these layers
// direct); and the direct kernels only, Winograd off.
for (const variant of ['fma', 'simd'] as const) {
  goldenConvSuite(`Winograd kernel where it applies, ${variant} build`, (input, weight, bias, options) => {
    const previous = configureKernels({ winogradMinChannels: 1, wasmVariant: variant, native: false });
    try {
      return runThroughPlan(input, weight, bias, options).output;
    } finally {
      configureKernels(previous);
    }
  });
}

goldenConvSuite('direct kernels only (Winograd off)', (input, weight, bias, options) => {
  const previous = configureKernels({ winogradMinChannels: null });
  try {
    const { plan, output } = runThroughPlan(input, weight, bias, options);
    expect(plan.kind).not.toBe('winograd');
    return output;
  } finally {
    configureKernels(previous);
  }
});

// Default plans use the fused multiply-add build; the plain SIMD build is what
// a runtime without relaxed SIMD gets.
goldenConvSuite('fast kernels, plain SIMD build (forced)', (input, weight, bias, options) => {
  const previous = configureKernels({ wasmVariant: 'simd' });
  try {
    const { plan, output } = runThroughPlan(input, weight, bias, options);
    expect(plan.wasm?.variant).toBe('simd');
    return output;
  } finally {
    configureKernels(previous);
  }
});

describe('JavaScript fallback', () => {
  afterAll(() => configureKernels({ forceJs: false }));
  it('is chosen when forced, as on a runtime without SIMD', () => {
    configureKernels({ forceJs: true });
    expect(wasmKernelsAvailable()).toBe(false);
    const plan = planConv(resolveShapes([1, 4, 5, 5], [4, 1, 3, 3], null, { groups: 4 }).geometry, new Float32Array(36));
    expect(plan.kind).toBe('reference');
    expect(plan.packed).toBeNull();
    configureKernels({ forceJs: false });
  });
});

goldenConvSuite('JavaScript fallback (forced)', (input, weight, bias, options) => {
  const previous = configureKernels({ forceJs: true });
  try {
    const { plan, output } = runThroughPlan(input, weight, bias, options);
    expect(plan.kind).toBe('reference');
    return output;
  } finally {
    configureKernels(previous);
  }
});
