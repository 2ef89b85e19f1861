// A batch-1 1x1 layer with fewer outputs than inputs cut by positions
// (src/engine/position-cut.ts), and one with as many outputs or more that no
// depthwise layer reads: the native 1x1 kernel computes any run of
// positions with the whole plane's bits and writes nothing outside it, at every
// vector width the CPU runs; where the engine cuts by positions and where it
// keeps the channel cut; a program so cut on 2 and 3 workers computes the
// calling thread's bits; a run of positions on any other kernel is refused.
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { resolveShapes, type ConvSlice } from '../src/conv/geometry.js';
import type { Activation } from '../src/kernels/epilogue.js';
import { nativeKernels } from '../src/kernels/native/index.js';
import { planConv, releasePlan, runPlan, type KernelPlan } from '../src/kernels/plan/index.js';
import { ModeChoice } from '../src/engine/mode-choice.js';
import { runSlice } from '../src/engine/slice-runner.js';
import { feedsDepthwise, MIN_POSITIONS_PER_RUNNER, POSITION_RUN_ALIGN, positionCut } from '../src/engine/position-cut.js';
import type { ProgramStage } from '../src/engine/program.js';
import { convBiasActivation, ExecutionError, sharedArena, zeros, type Tensor } from '../src/index.js';
import { Random } from '../src/random.js';
import { closingEngines } from './support/engines.js';
import { firstBitDifference, randomTensor } from './support/tensors.js';

const cpuFlags = new Set(readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'))?.split(/\s+/) ?? []);
const WIDTHS = [...(cpuFlags.has('avx512f') ? [16] : []), ...(cpuFlags.has('avx2') && cpuFlags.has('fma') ? [8] : [])];
const native = nativeKernels();
const engine = closingEngines();

/** A 1x1 layer's plan at batch `batch`, `cin` -> `cout` over h x w, with `activation`. */
function pointwisePlan(random: Random, cin: number, cout: number, h: number, w: number, activation: Activation, batch = 1): { plan: KernelPlan; weight: Float32Array } {
  const weight = new Float32Array(cout * cin).map(() => random.uniform(-1, 1));
  const { geometry } = resolveShapes([batch, cin, h, w], [cout, cin, 1, 1], [cout], {});
  return { plan: planConv(geometry, weight, null, activation), weight };
}

/** '' if `out` holds `whole`'s bits at every (channel, position) `inside` says, and NaN (never written) elsewhere; else the first that does not. */
function firstWrongElement(out: Float32Array, whole: Float32Array, channels: number, hw: number, inside: (c: number, p: number) => boolean): string {
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < hw; p++) {
      const i = c * hw + p;
      if (!inside(c, p) && !Number.isNaN(out[i])) return `channel ${c} position ${p} outside the runs was written: ${out[i]}`;
      if (inside(c, p) && firstBitDifference(out.subarray(i, i + 1), whole.subarray(i, i + 1)) !== -1) return `channel ${c} position ${p}: ${out[i]}, the whole plane's ${whole[i]}`;
    }
  }
  return '';
}

describe.skipIf(!native)('the native 1x1 kernel over a run of positions', () => {
  // 7x7 is one position past whole 16-float vectors (its last position has a pass of its own), 14x14 and 9x11
  // rows that are not whole vectors (the input is copied to aligned rows), 20x20 whole ones at 16 floats.
  const SHAPES = [
    { cin: 40, cout: 12, h: 7, w: 7 },
    { cin: 96, cout: 24, h: 14, w: 14 },
    { cin: 33, cout: 13, h: 9, w: 11 },
    { cin: 24, cout: 20, h: 20, w: 20 },
  ];
  const ACTIVATIONS: Activation[] = [{ kind: 'none' }, { kind: 'clip', min: 0, max: 6 }, { kind: 'silu' }];

  for (const width of WIDTHS) {
    for (const { cin, cout, h, w } of SHAPES) {
      it(`${cin} -> ${cout} at ${h}x${w}, ${width} floats a vector: every run of positions has the whole plane's bits, and nothing outside it is written`, () => {
        const previous = native!.useWidth(width);
        const random = new Random(cin * 1000 + h * 10 + width);
        const hw = h * w;
        const x = randomTensor(random, [1, cin, h, w], { shared: true });
        const bias = randomTensor(random, [cout], { shared: true });
        const residual = randomTensor(random, [1, cout, h, w], { shared: true });
        // Aligned halves and thirds, runs starting and ending inside a vector, the last position alone, a channel range too.
        const cuts: Array<Array<[number, number]>> = [
          [[0, 32], [32, hw]],
          [[0, 16], [16, 48], [48, hw]],
          [[0, 5], [5, 37], [37, hw - 1], [hw - 1, hw]],
          [[3, 17]],
          [[hw - 20, hw]],
        ];
        try {
          for (const activation of ACTIVATIONS) {
            for (const withResidual of [false, true]) {
              const { plan, weight } = pointwisePlan(random, cin, cout, h, w, activation);
              try {
                const res = withResidual ? residual.data : null;
                const whole = zeros([1, cout, h, w], { shared: true });
                runPlan(plan, x.data, weight, bias.data, whole.data, { batchStart: 0, batchEnd: 1, outChannelStart: 0, outChannelEnd: cout }, null, res);
                for (const runs of cuts) {
                  for (const [c0, c1] of [[0, cout], [1, cout - 2]]) {
                    const out = zeros([1, cout, h, w], { shared: true });
                    out.data.fill(NaN);
                    for (const [p0, p1] of runs) {
                      runPlan(plan, x.data, weight, bias.data, out.data, { batchStart: 0, batchEnd: 1, outChannelStart: c0, outChannelEnd: c1, positionStart: p0, positionEnd: p1 }, null, res);
                    }
                    const where = `${activation.kind} residual ${withResidual} runs ${JSON.stringify(runs)} channels [${c0}, ${c1})`;
                    expect(firstWrongElement(out.data, whole.data, cout, hw, (c, p) => c >= c0 && c < c1 && runs.some(([p0, p1]) => p >= p0 && p < p1)), where).toBe('');
                  }
                }
              } finally {
                releasePlan(plan);
              }
            }
          }
        } finally {
          native!.useWidth(previous);
        }
      });
    }
  }
});

describe('where the engine cuts by positions', () => {
  const random = new Random(5);
  const planOf = (cin: number, cout: number, side: number, batch = 1) => pointwisePlan(random, cin, cout, side, side, { kind: 'none' }, batch).plan;

  it.skipIf(!native)('cuts a batch-1 projection into one run a runner, on vector boundaries, covering the plane once', () => {
    const plan = planOf(144, 24, 28);
    try {
      for (const runners of [2, 3]) {
        const slices = positionCut(plan.geometry, plan, runners, false)!;
        expect(slices).toHaveLength(runners);
        expect(slices[0].positionStart).toBe(0);
        expect(slices.at(-1)!.positionEnd).toBe(28 * 28);
        for (let i = 0; i < runners; i++) {
          const s = slices[i];
          expect(s).toMatchObject({ batchStart: 0, batchEnd: 1, outChannelStart: 0, outChannelEnd: 24 });
          if (i > 0) expect(s.positionStart).toBe(slices[i - 1].positionEnd);
          if (i < runners - 1) expect(s.positionEnd! % POSITION_RUN_ALIGN).toBe(0);
          expect(s.positionEnd! - s.positionStart!).toBeGreaterThanOrEqual(MIN_POSITIONS_PER_RUNNER);
        }
      }
    } finally {
      releasePlan(plan);
    }
  });

  it.skipIf(!native)('cuts a layer with as many outputs as inputs or more by positions only where no depthwise layer reads its output', () => {
    for (const plan of [planOf(58, 58, 28), planOf(128, 256, 28)]) {
      try {
        expect(positionCut(plan.geometry, plan, 2, false)).toHaveLength(2);
        expect(positionCut(plan.geometry, plan, 2, true)).toBeNull();
      } finally {
        releasePlan(plan);
      }
    }
  });

  it('keeps the channel cut for an expansion feeding a depthwise layer, more than one image, one runner, a plane too small to share, and a kernel that is not the native 1x1', () => {
    const cases: Array<[KernelPlan, number]> = [
      [planOf(24, 144, 28), 2], // more outputs than inputs, read by a depthwise layer
      [planOf(144, 24, 28, 2), 2], // two images: cut by images
      [planOf(144, 24, 28), 1],
      [planOf(960, 160, 7), 2], // 49 positions: fewer than MIN_POSITIONS_PER_RUNNER a runner
    ];
    const weight = new Float32Array(24 * 144 * 9).map(() => random.uniform(-1, 1));
    const { geometry } = resolveShapes([1, 144, 28, 28], [24, 144, 3, 3], null, { padding: 1 });
    cases.push([planConv(geometry, weight), 2]); // a 3x3
    try {
      for (const [plan, runners] of cases) expect(positionCut(plan.geometry, plan, runners, true), JSON.stringify(plan.geometry)).toBeNull();
    } finally {
      for (const [plan] of cases) releasePlan(plan);
    }
  });

  it.skipIf(!native)("a worker's slice loop passes the run of positions on to the kernel, image by image", () => {
    const { plan, weight } = pointwisePlan(random, 48, 16, 12, 12, { kind: 'none' }, 2);
    const input = randomTensor(random, [2, 48, 12, 12], { shared: true });
    const output = zeros([2, 16, 12, 12], { shared: true });
    output.data.fill(NaN);
    const whole = zeros([2, 16, 12, 12], { shared: true });
    try {
      runPlan(plan, input.data, weight, null, whole.data, { batchStart: 0, batchEnd: 2, outChannelStart: 0, outChannelEnd: 16 }, null);
      const context = { plan, input: input.data, weight, bias: null, output: output.data, residual: null, scale: null, scratch: new Float32Array(1) };
      runSlice(context, { cancelled: () => false }, { batchStart: 0, batchEnd: 2, outChannelStart: 0, outChannelEnd: 16, positionStart: 64, positionEnd: 112 });
      for (const n of [0, 1]) {
        const at = n * 16 * 144;
        expect(firstWrongElement(output.data.subarray(at, at + 16 * 144), whole.data.subarray(at, at + 16 * 144), 16, 144, (_, p) => p >= 64 && p < 112), `image ${n}`).toBe('');
      }
    } finally {
      releasePlan(plan);
    }
  });

  it('finds the depthwise layer that reads a stage\'s output before another stage overwrites it', () => {
    const conv = (cin: number, cout: number, groups: number) => resolveShapes([1, cin, 8, 8], [cout, cin / groups, 3, 3], null, { groups, padding: 1 }).geometry;
    const expansion = { reads: [0], writes: [1], geometry: conv(8, 48, 1) };
    const depthwise = { reads: [1], writes: [2], geometry: conv(48, 48, 48) };
    const grouped = { reads: [1], writes: [2], geometry: conv(48, 48, 4) };
    const relu = { reads: [1], writes: [3], geometry: null };
    const overwrite = { reads: [0], writes: [1], geometry: conv(8, 48, 1) };
    expect(feedsDepthwise([expansion, depthwise], 0)).toBe(true);
    expect(feedsDepthwise([expansion, relu, depthwise], 0)).toBe(true); // a ranged op between, reading it too
    expect(feedsDepthwise([expansion, grouped], 0)).toBe(false); // grouped, not depthwise
    expect(feedsDepthwise([expansion, overwrite, depthwise], 0)).toBe(false); // the depthwise layer reads another value in buffer 1
    expect(feedsDepthwise([expansion], 0)).toBe(false);
  });

  it('refuses a run of positions on a kernel other than the native 1x1, naming it, before writing anything', () => {
    const weight = new Float32Array(8 * 4 * 9).map(() => random.uniform(-1, 1));
    const { geometry } = resolveShapes([1, 4, 8, 8], [8, 4, 3, 3], null, { padding: 1 });
    const plan = planConv(geometry, weight);
    const x = randomTensor(random, [1, 4, 8, 8], { shared: true });
    const out = zeros([1, 8, 8, 8], { shared: true });
    out.data.fill(NaN);
    const slice: ConvSlice = { batchStart: 0, batchEnd: 1, outChannelStart: 0, outChannelEnd: 8, positionStart: 0, positionEnd: 32 };
    try {
      expect(() => runPlan(plan, x.data, weight, null, out.data, slice, null)).toThrow(ExecutionError);
      expect(() => runPlan(plan, x.data, weight, null, out.data, slice, null)).toThrow(/run of positions reached the dense kernel/);
      expect(out.data.every(Number.isNaN)).toBe(true);
    } finally {
      releasePlan(plan);
    }
  });
});

describe.skipIf(!native)('a program at batch 1 with a projection', () => {
  // An inverted residual block's tail: depthwise 3x3 (48 channels, ReLU6) -> 1x1 projection 48 -> 16 with the
  // block's input added, at 18x18 (324 positions: 3 runs of at least MIN_POSITIONS_PER_RUNNER).
  const random = new Random(77);
  const x = randomTensor(random, [1, 16, 18, 18], { shared: true });
  const mid = randomTensor(random, [1, 48, 18, 18]);
  const wd = randomTensor(random, [48, 1, 3, 3], { scale: 0.3 });
  const bd = randomTensor(random, [48]);
  const wp = randomTensor(random, [16, 48, 1, 1], { scale: 0.3 });
  const bp = randomTensor(random, [16]);
  const relu6: Activation = { kind: 'clip', min: 0, max: 6 };

  function expected(input: Tensor, dwInput: Tensor): Tensor {
    const d = convBiasActivation(dwInput, wd, bd, { groups: 48, padding: 1, activation: relu6 });
    return convBiasActivation(d, wp, bp, { residual: input });
  }

  for (const workers of [2, 3]) {
    it(`on ${workers} workers runs the projection as ${workers} runs of positions, bitwise the calling thread's, run after run`, async () => {
      const next = vi.spyOn(ModeChoice.prototype, 'next').mockReturnValue({ way: 'staged', counted: false });
      const e = engine({ workers });
      const dw = e.layer(wd, bd, { groups: 48, padding: 1, activation: relu6 });
      const proj = e.layer(wp, bp, {});
      const sizes = [16 * 324, 48 * 324, 48 * 324, 16 * 324];
      const stages: ProgramStage[] = [
        { kind: 'conv', label: "'dw' (Conv+Clip)", layer: dw, inputShape: [1, 48, 18, 18], input: 1, output: 2 },
        { kind: 'conv', label: "'project' (Conv+Add)", layer: proj, inputShape: [1, 48, 18, 18], input: 2, output: 3, residual: 0 },
      ];
      const program = e.program(stages, sizes);
      const arena = sharedArena();
      const buffers = sizes.map((n) => arena.allocateFloat32(n));
      try {
        buffers[0].set(x.data);
        buffers[1].set(mid.data);
        const want = expected(x, mid);
        for (let round = 0; round < 4; round++) {
          buffers[3].fill(NaN);
          const profile = await program.run(buffers, { profile: true });
          expect(firstBitDifference(buffers[3], want.data), `round ${round}`).toBe(-1);
          expect(profile!.stages[1].tasks).toBe(workers);
          expect(profile!.stages[0].tasks).toBeGreaterThan(1); // the depthwise layer keeps its cut by channels
        }
      } finally {
        next.mockRestore();
        program.close();
        dw.close();
        proj.close();
        buffers.forEach((b) => arena.release(b));
      }
    });
  }
});
