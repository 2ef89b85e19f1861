// Every model of the zoo against PyTorch: the fixture's state_dict loaded from
// safetensors, the output compared with PyTorch's (float64, rounded to float32),
// on one thread, through a per-group runner, and on the engine with 2 workers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupedConvEngine, models } from '../src/index.js';
import { createEngine, perGroupRunner, singleThreadRunner } from './support/runners.js';
import { firstBitDifference } from './support/tensors.js';
import { expectTensorClose, worstViolation, ZOO_ATOL_FRACTION, zooTolerance } from './support/tolerance.js';
import { buildModel, caseIO, caseState, zooCases, type ModelCase } from './support/zoo-fixtures.js';

// Tolerance (zooTolerance in test/support/tolerance.ts): 1e-5 of the output's largest
// magnitude plus 1e-5 relative. The expected values are exact to float32; a
// float32 pipeline loses about 6e-8 relative per rounding, and through these
// models (up to 10 convolutions, BatchNorm scales up to 15) PyTorch's own
// float32 run stays within 4.2e-7 of max|expected| (torch_f32_max_err), about 4%
// of the tolerance. A wrong eps, statistic, group or residual is far larger:
// see the sensitivity test at the end.
function loaded(c: ModelCase) {
  const model = buildModel(c.model, c.options);
  model.loadStateDict(caseState(c));
  return model;
}

function expectClose(c: ModelCase, got: { shape: number[]; data: Float32Array }, expected: { shape: number[]; data: Float32Array }) {
  expect(got.shape).toEqual(c.output_shape);
  expectTensorClose(got, expected, zooTolerance(c.max_abs_expected), c.id);
}

describe.each(zooCases.models.map((c) => [c.id, c] as const))('%s matches PyTorch', (_id, c) => {
  const { input, expected } = caseIO(c);

  it('has PyTorch’s parameter count and state_dict keys (without num_batches_tracked)', () => {
    const model = buildModel(c.model, c.options);
    expect(model.parameterCount()).toBe(c.parameter_count);
    expect(Object.keys(model.stateDict())).toEqual(c.state_dict_keys.filter((k) => !k.endsWith('num_batches_tracked')));
  });

  it('forward on one thread', () => {
    expectClose(c, loaded(c).forward(input), expected);
  });

  it('forwardWith the single-thread conv2d equals forward exactly', async () => {
    const model = loaded(c);
    const sync = model.forward(input);
    const viaRunner = await model.forwardWith(singleThreadRunner, input);
    expect(viaRunner.shape).toEqual(sync.shape);
    expect(firstBitDifference(viaRunner.data, sync.data)).toBe(-1);
  });

  it('forwardWith a per-group runner (each group its own convolution)', async () => {
    expectClose(c, await loaded(c).forwardWith(perGroupRunner, input), expected);
  });

  it('does not modify its input', () => {
    const copy = input.data.slice();
    loaded(c).forward(input);
    expect(input.data).toEqual(copy);
  });
});

describe('on the GroupedConvEngine with 2 workers', () => {
  let engine: GroupedConvEngine;
  beforeAll(() => {
    engine = createEngine(2);
  });
  afterAll(async () => {
    await engine?.close();
  });

  it.each(zooCases.models.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const { input, expected } = caseIO(c);
    const model = loaded(c);
    expectClose(c, await model.forwardWith(engine, input), expected);
    // Twice on the same engine: nothing left over from the first run changes the second.
    const again = await model.forwardWith(engine, input);
    expectClose(c, again, expected);
    // The engine's workers run the single-thread kernels on disjoint slices, so
    // the whole model's result is identical to forward, bit for bit.
    const sync = model.forward(input);
    expect(firstBitDifference(again.data, sync.data)).toBe(-1);
  });

  it('runs the models concurrently on one engine', async () => {
    const runs = zooCases.models.map(async (c) => {
      const { input, expected } = caseIO(c);
      expectClose(c, await loaded(c).forwardWith(engine, input), expected);
    });
    await Promise.all(runs);
  });
});

describe('the fixtures are sensitive', () => {
  // The tolerance must not hide small semantic errors: dropping BatchNorm's
  // eps (1e-5) or nudging one running variance must fail the comparison.
  const c = zooCases.models.find((m) => m.id === 'mini_group_net')!;
  const { input, expected } = caseIO(c);
  const fails = (got: { shape: number[]; data: Float32Array }) => worstViolation(got.data, expected.data, zooTolerance(c.max_abs_expected)) !== null;

  it('BatchNorm without eps is caught', () => {
    const model = loaded(c);
    ((model as models.MiniGroupNet).stem.layers[1] as unknown as { eps: number }).eps = 0;
    expect(fails(model.forward(input))).toBe(true);
  });

  it('one running variance off by 1% is caught', () => {
    const model = loaded(c);
    model.stateDict()['stage2.expand.1.running_var'].data[7] *= 1.01;
    expect(fails(model.forward(input))).toBe(true);
  });

  it.each(zooCases.models.map((m) => [m.id, m] as const))('%s: PyTorch’s float32 run uses under 10%% of the tolerance', (_id, m) => {
    expect(m.torch_f32_max_err).toBeLessThan(0.1 * ZOO_ATOL_FRACTION * m.max_abs_expected);
  });
});
