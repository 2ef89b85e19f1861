// Chains (src/engine/chains.ts): runs of image-major program stages taken one
// image per task with no barrier between them. Which stages chain, the
// per-run check that buffers overlap only as identical bytes, runs bitwise
// equal to the calling thread (chained, and stage by stage when the check fails or
// a stage is not declared image-major), and a failing member named as its own stage.
import { threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { convBiasActivation, ExecutionError, GroupedConvEngine, relu, sharedArena, type Tensor } from '../src/index.js';
import { CHAIN_SEGMENTS, chainSegments, chainsAreSafe, chainsOf, imagesBalance, type Chain } from '../src/engine/chains.js';
import type { ProgramStage } from '../src/engine/program.js';
import { ELEMENT_BLOCK } from '../src/kernels/ranged/index.js';
import { Random } from '../src/random.js';
import { closingEngines } from './support/engines.js';
import { FAULT, rejectionWithFirstReluHereSlow } from './support/faults.js';
import { firstBitDifference, randomTensor } from './support/tensors.js';

const faultyWorker = new URL('./support/faulty-worker.ts', import.meta.url);
const engine = closingEngines();

const random = new Random(43);
const IMAGES = 4;
// conv 3x3 (groups 4) -> relu -> conv 1x1 + residual, relu fused; every activation's image is 16 x 16 x 16 = one ELEMENT_BLOCK.
const x = randomTensor(random, [IMAGES, 16, 16, 16]);
const w1 = randomTensor(random, [16, 4, 3, 3], { scale: 0.3 });
const b1 = randomTensor(random, [16]);
const w2 = randomTensor(random, [16, 16, 1, 1], { scale: 0.3 });
const perImage = { x: 16 * 256, y: 16 * 256 };
const sizes = [IMAGES * perImage.x, IMAGES * perImage.y, IMAGES * perImage.y, IMAGES * perImage.x];
const reluOp = (elements: number) => ({ kernel: 'relu', params: { elements }, units: Math.ceil(elements / ELEMENT_BLOCK), costPerUnit: ELEMENT_BLOCK });

function expected(input: Tensor): Tensor {
  const y1 = convBiasActivation(input, w1, b1, { groups: 4, padding: 1 });
  return convBiasActivation(relu(y1), w2, null, { residual: input, activation: 'relu' });
}

/** Buffers: 0 input, 1 conv output, 2 relu output, 3 block output. The relu is declared image-major unless `declared` is false. */
function block(e: GroupedConvEngine, declared = true) {
  const l1 = e.layer(w1, b1, { groups: 4, padding: 1 });
  const l2 = e.layer(w2, null, { activation: 'relu' });
  const stages: ProgramStage[] = [
    { kind: 'conv', label: "'conv1' (Conv)", layer: l1, inputShape: x.shape, input: 0, output: 1 },
    { kind: 'ranged', label: "'relu1' (Relu)", op: reluOp(sizes[1]), inputs: [1], outputs: [2], images: declared ? { images: IMAGES } : null },
    { kind: 'conv', label: "'conv2' (Conv+Add+Relu)", layer: l2, inputShape: [IMAGES, 16, 16, 16], input: 2, output: 3, residual: 0 },
  ];
  const program = e.program(stages, sizes);
  return { program, close: () => (program.close(), l1.close(), l2.close()) };
}

const arena = () => sharedArena();
function separateBuffers(input: Tensor): Float32Array[] {
  const b = sizes.map((n) => arena().allocateFloat32(n));
  b[0].set(input.data);
  return b;
}
const release = (buffers: Float32Array[]) => new Set(buffers).forEach((b) => arena().release(b));

describe('which stages chain', () => {
  it('at least an image per worker, the segments of images balancing over the workers within 5%', () => {
    // Whole images alone would not balance 3 or 5 over 2 (ceil(3 / 2) / 1.5 = 1.33), their eighths do.
    expect([1, 2, 3, 4, 5, 8, 21, 22].map((n) => imagesBalance(n, 2))).toEqual([false, true, true, true, true, true, true, true]);
    expect([2, 3, 4, 6, 7].map((n) => imagesBalance(n, 3))).toEqual([false, true, true, true, true]);
    // 2 images over 11 workers: too few; 17 over 16: 136 eighths, the busiest takes 9 of 8.5 (1.06); 18 over 16: 9 of 9.
    expect(imagesBalance(2, 11)).toBe(false);
    expect(imagesBalance(17, 16)).toBe(false);
    expect(imagesBalance(18, 16)).toBe(true);
  });

  it('runs of at least two image-major stages with one image count, broken where a stage is not one', () => {
    const conv = (input: number, output: number, images = IMAGES): ProgramStage =>
      ({ kind: 'conv', label: 'c', layer: null as never, inputShape: [images, 16, 16, 16], input, output });
    const ranged = (inputs: number[], outputs: number[], images: { images: number; shared?: number[] } | null): ProgramStage => ({ kind: 'ranged', label: 'r', op: reluOp(sizes[1]), inputs, outputs, images });
    const lengths = [sizes[1], sizes[1], sizes[1], sizes[1], sizes[1], 18];
    const spans = (chains: Chain[]) => chains.map((c) => [c.from, c.to, c.images]);
    // conv, relu (declared), relu (undeclared), conv, conv, relu: [0, 2) and [3, 6).
    const stages = [conv(0, 1), ranged([1], [2], { images: IMAGES }), ranged([2], [3], null), conv(3, 4), conv(4, 1), ranged([1], [2], { images: IMAGES })];
    expect(spans(chainsOf(stages, lengths, 2))).toEqual([[0, 2, 4], [3, 6, 4]]);
    // Another image count starts a new run; a lone stage is no chain.
    expect(spans(chainsOf([conv(0, 1), conv(1, 2, 2), conv(2, 3, 2)], lengths, 2))).toEqual([[1, 3, 2]]);
    // 5 workers: 4 images leave one idle; 1 worker: no barrier to save.
    expect(chainsOf(stages, lengths, 5)).toEqual([]);
    expect(chainsOf(stages, lengths, 1)).toEqual([]);
    // A stage reading whole (shared) a buffer the run wrote starts a new run; one reading a constant whole joins it.
    expect(spans(chainsOf([conv(0, 1), ranged([2, 1], [3], { images: IMAGES, shared: [1] })], lengths, 2))).toEqual([]);
    expect(spans(chainsOf([conv(0, 1), ranged([1, 5], [3], { images: IMAGES, shared: [1] })], lengths, 2))).toEqual([[0, 2, 4]]);
    // ... and so does one writing a buffer the run read whole before.
    expect(spans(chainsOf([ranged([0, 5], [3], { images: IMAGES, shared: [1] }), conv(3, 5)], [...lengths.slice(0, 5), sizes[1]], 2))).toEqual([]);
    expect(chainsOf([conv(0, 1), ranged([1, 5], [3], { images: IMAGES, shared: [1] })], lengths, 2)[0].buffers).toEqual({ written: [1, 3], perImage: [0, 1], whole: [5] });
    // A buffer that does not split into whole images keeps its stage out.
    expect(spans(chainsOf([conv(0, 1), ranged([1], [5], { images: IMAGES })], lengths, 2))).toEqual([]);
  });

  it('a chain is cut into segments of about equal cost, each at least one member', () => {
    expect(chainSegments([1, 1, 1, 1, 1, 1, 1, 1], 4)).toEqual([0, 2, 4, 6, 8]);
    expect(chainSegments([4, 1, 1, 1, 1], 2)).toEqual([0, 1, 5]);
    // A member worth several shares closes one run; what is left still makes the rest.
    expect(chainSegments([1, 100, 1, 1], 4)).toEqual([0, 1, 2, 3, 4]);
    expect(chainSegments([100, 1, 1, 1, 1, 1], 3)).toEqual([0, 1, 2, 6]);
    // Fewer members than segments: one each; one member: one segment.
    expect(chainSegments([5, 7], CHAIN_SEGMENTS)).toEqual([0, 1, 2]);
    expect(chainSegments([5], CHAIN_SEGMENTS)).toEqual([0, 1]);
    expect(chainSegments([0, 0, 0], 2)).toEqual([0, 1, 3]);
  });

  it('refuses a declaration that does not divide the units, or names no input', () => {
    const stage = (images: { images: number; shared?: number[] }): ProgramStage => ({ kind: 'ranged', label: 'r', op: reluOp(sizes[1]), inputs: [0], outputs: [1], images });
    expect(() => chainsOf([stage({ images: 3 })], sizes, 2)).toThrow(/stages\[0\]\.images\.images: expected an integer >= 1 dividing the op's 4 units, got 3/);
    expect(() => chainsOf([stage({ images: 2, shared: [1] })], sizes, 1)).toThrow(/stages\[0\]\.images\.shared: expected input positions in \[0, 1\), got 1/);
  });

  it('a run is safe only if its buffers overlap as identical bytes, and what it reads whole overlaps nothing it writes', () => {
    const chain: Chain = { from: 0, to: 2, images: 2, buffers: { written: [1, 2], perImage: [0, 1], whole: [3] } };
    const block = arena().allocateFloat32(64);
    const at = (offset: number, length: number) => block.subarray(offset, offset + length);
    expect(chainsAreSafe([chain], [at(0, 8), at(8, 8), at(16, 8), at(24, 8)])).toBe(true);
    // 2 in 1's bytes, exactly: image i of one is image i of the other.
    expect(chainsAreSafe([chain], [at(0, 8), at(8, 8), at(8, 8), at(24, 8)])).toBe(true);
    // Shifted by half an image: image 0 of 2 is image 1 of 1.
    expect(chainsAreSafe([chain], [at(0, 8), at(8, 8), at(12, 8), at(24, 8)])).toBe(false);
    // The same start, another length.
    expect(chainsAreSafe([chain], [at(0, 8), at(8, 8), at(8, 4), at(24, 8)])).toBe(false);
    // Read whole while the chain writes it, even as identical bytes.
    expect(chainsAreSafe([chain], [at(0, 8), at(8, 8), at(16, 8), at(16, 8)])).toBe(false);
    // Two buffers only read may overlap any way.
    expect(chainsAreSafe([chain], [at(30, 8), at(8, 8), at(16, 8), at(24, 8)])).toBe(true);
    arena().release(block);
  });
});

describe('a chained program', () => {
  for (const workers of [1, 2, 4]) {
    it(`on ${workers} worker(s) runs ${workers === 1 ? 'stage by stage (no chain on one worker)' : 'its chain'} and is bitwise the calling thread, run after run`, async () => {
      const e = engine({ workers });
      const { program, close } = block(e);
      expect(program.chains.map((c) => [c.from, c.to])).toEqual(workers === 1 ? [] : [[0, 3]]);
      const want = expected(x);
      for (let round = 0; round < 3; round++) {
        const buffers = separateBuffers(x);
        await program.run(buffers);
        expect(program.lastRunMode).toBe(workers === 1 ? 'staged' : 'chained');
        // Chained, its 3 members are 3 segments that continue one another: one barrier, at the end.
        expect(program.lastRunBarriers).toBe(workers === 1 ? 3 : 1);
        expect(firstBitDifference(buffers[3], want.data)).toBe(-1);
        release(buffers);
      }
      close();
    });
  }

  for (const workers of [2, 3]) {
    it(`with the calling thread as a runner (callingThread) on ${workers} workers, runs its chain beside ${workers - 1} worker(s), bitwise the calling thread`, async () => {
      const e = engine({ workers, callingThread: true });
      const { program, close } = block(e);
      const want = expected(x);
      const threads = new Set<number>();
      for (let round = 0; round < 5; round++) {
        const buffers = separateBuffers(x);
        const profile = (await program.run(buffers, { profile: true }))!;
        expect(program.lastRunMode).toBe('chained');
        expect(program.lastRunBarriers).toBe(1);
        expect([profile.runners, profile.onCallingThread]).toEqual([workers, true]);
        const ran = new Set(profile.stages.flatMap((s) => s.threads.map((t) => t.threadId)));
        expect(ran.size).toBeLessThanOrEqual(workers);
        for (const t of ran) threads.add(t);
        expect(firstBitDifference(buffers[3], want.data)).toBe(-1);
        release(buffers);
      }
      // The calling thread starts claiming while its workers wake; a worker still spinning from the last run
      // may take a whole small run's tasks first, but not every run's.
      expect(threads.has(threadId)).toBe(true);
      close();
    });
  }

  for (const images of [6, 3]) it(`a long chain in segments (each image waits only for itself between them), ${images} images on 1, 2 and 3 workers: bitwise the calling thread, one barrier`, async () => {
    // 12 members make CHAIN_SEGMENTS segments: conv, relu, conv, relu, ... 3 images on 2 workers chain too (their eighths balance).
    const input = randomTensor(random, [images, 16, 16, 16]);
    const per = 16 * 256;
    const members = 12;
    const want: Tensor[] = [input];
    for (let m = 0; m < members; m++) {
      const last = want[want.length - 1];
      want.push(m % 2 === 0 ? convBiasActivation(last, w1, b1, { groups: 4, padding: 1 }) : relu(last));
    }
    const results: Float32Array[] = [];
    for (const workers of [1, 2, 3]) {
      const e = engine({ workers });
      const layer = e.layer(w1, b1, { groups: 4, padding: 1 });
      const stages: ProgramStage[] = Array.from({ length: members }, (_, m) =>
        m % 2 === 0
          ? { kind: 'conv', label: `'conv${m}' (Conv)`, layer, inputShape: [images, 16, 16, 16], input: m, output: m + 1 }
          : { kind: 'ranged', label: `'relu${m}' (Relu)`, op: reluOp(images * per), inputs: [m], outputs: [m + 1], images: { images } },
      );
      const program = e.program(stages, new Array(members + 1).fill(images * per));
      expect(program.chains.map((c) => [c.from, c.to])).toEqual(workers === 1 ? [] : [[0, members]]);
      for (const profile of [false, true]) {
        const buffers = Array.from({ length: members + 1 }, () => arena().allocateFloat32(images * per));
        buffers[0].set(input.data);
        const timings = await program.run(buffers, { profile });
        expect(program.lastRunMode).toBe(workers === 1 ? 'staged' : 'chained');
        expect(program.lastRunBarriers).toBe(workers === 1 ? members : 1);
        // Every member ran every image once, and wrote what the calling thread computes.
        if (timings) expect(timings.stages.map((s) => s.threads.reduce((n, t) => n + t.tasks, 0))).toEqual(new Array(members).fill(workers === 1 ? timings.stages[0].tasks : images));
        for (let m = 1; m <= members; m++) expect(firstBitDifference(buffers[m], want[m].data), `buffer ${m} on ${workers}`).toBe(-1);
        results.push(buffers[members].slice());
        release(buffers);
      }
      program.close();
      layer.close();
    }
    for (const r of results) expect(firstBitDifference(r, results[0])).toBe(-1);
  });

  it('the relu undeclared: no chain, stage by stage, the same bits', async () => {
    const { program, close } = block(engine({ workers: 2 }), false);
    expect(program.chains).toEqual([]);
    const buffers = separateBuffers(x);
    await program.run(buffers);
    expect(program.lastRunMode).toBe('staged');
    expect(firstBitDifference(buffers[3], expected(x).data)).toBe(-1);
    release(buffers);
    close();
  });

  it('relu in place (identical bytes) still chains; the output over the dead conv output shifted by half an image goes stage by stage, and both are right', async () => {
    const { program, close } = block(engine({ workers: 2 }));
    const want = expected(x);
    const inPlace = separateBuffers(x);
    inPlace[2] = inPlace[1];
    await program.run(inPlace);
    expect(program.lastRunMode).toBe('chained');
    expect(firstBitDifference(inPlace[3], want.data)).toBe(-1);
    release(inPlace);
    // Stage by stage this placement is fine (buffer 1 is dead when conv2 writes 3); image by image, image 0's output would land on image 1's conv output.
    const shared = arena().allocateFloat32(sizes[1] + perImage.y);
    const shifted = [arena().allocateFloat32(sizes[0]), shared.subarray(0, sizes[1]), arena().allocateFloat32(sizes[2]), shared.subarray(perImage.y / 2, perImage.y / 2 + sizes[3])];
    shifted[0].set(x.data);
    await program.run(shifted);
    expect(program.lastRunMode).toBe('staged');
    expect(firstBitDifference(shifted[3], want.data)).toBe(-1);
    // The answer is the placement's, run after run (the program keeps the last one): safe buffers chain again, the shifted ones go stage by stage again.
    const again = separateBuffers(x);
    await program.run(again);
    expect(program.lastRunMode).toBe('chained');
    expect(firstBitDifference(again[3], want.data)).toBe(-1);
    release(again);
    shifted[3].fill(0);
    await program.run(shifted);
    expect(program.lastRunMode).toBe('staged');
    expect(firstBitDifference(shifted[3], want.data)).toBe(-1);
    [shifted[0], shared, shifted[2]].forEach((b) => arena().release(b));
    close();
  });

  it('a profiled run stays chained and times each member: its part of every image, in order', async () => {
    const { program, close } = block(engine({ workers: 2 }));
    const buffers = separateBuffers(x);
    const profile = (await program.run(buffers, { profile: true }))!;
    expect(program.lastRunMode).toBe('chained');
    expect(profile.stages.map((s) => [s.label, s.tasks])).toEqual([["'conv1' (Conv)", IMAGES], ["'relu1' (Relu)", IMAGES], ["'conv2' (Conv+Add+Relu)", IMAGES]]);
    for (const [i, s] of profile.stages.entries()) {
      expect(s.firstStartMs).toBeLessThanOrEqual(s.lastEndMs);
      expect(s.threads.reduce((n, t) => n + t.tasks, 0)).toBe(IMAGES);
      expect(s.totalBusyMs).toBeGreaterThan(0);
      // A member's last image ends no earlier than the member before's.
      if (i > 0) expect(s.lastEndMs).toBeGreaterThanOrEqual(profile.stages[i - 1].lastEndMs);
    }
    expect(profile.stages[2].lastEndMs).toBeLessThanOrEqual(profile.wallMs);
    expect(firstBitDifference(buffers[3], expected(x).data)).toBe(-1);
    release(buffers);
    close();
  });

  /**
   * A relu then a conv, chained, on 2 workers of the faulty worker file: its fault hook reads the
   * conv's input, which the relu passes on (markers and small values are positive). Its buffers too.
   */
  function reluThenConvOnFaultyWorkers() {
    const e = engine({ workers: 2, workerFile: faultyWorker });
    const l = e.layer(w1, b1, { groups: 4, padding: 1 });
    const program = e.program(
      [
        { kind: 'ranged', label: "'relu0' (Relu)", op: reluOp(sizes[0]), inputs: [0], outputs: [1], images: { images: IMAGES } },
        { kind: 'conv', label: "'conv1' (Conv)", layer: l, inputShape: x.shape, input: 1, output: 2 },
      ],
      [sizes[0], sizes[0], sizes[1]],
    );
    const buffers = [sizes[0], sizes[0], sizes[1]].map((n) => arena().allocateFloat32(n));
    return { e, l, program, buffers };
  }

  it('a member that throws rejects the run naming that member, and the next run is right', async () => {
    const { l, program, buffers } = reluThenConvOnFaultyWorkers();
    expect(program.chains.map((c) => [c.from, c.to])).toEqual([[0, 2]]);
    buffers[0].set(x.data);
    buffers[0][0] = FAULT.throw;
    buffers[0][1] = 3;
    const error = await program.run(buffers).catch((err: unknown) => err);
    expect(program.lastRunMode).toBe('chained');
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toMatch(/^stage 2 of 2 \('conv1' \(Conv\)\) failed in its worker: injected fault at output channel 3/);
    expect((error as { stage: number }).stage).toBe(1);
    buffers[0].set(x.data);
    // The hook reads image 0's first values from any image's task: clear the marker the failed run's relu left there.
    buffers[1].fill(0);
    await program.run(buffers);
    expect(firstBitDifference(buffers[2], convBiasActivation(relu(x), w1, b1, { groups: 4, padding: 1 }).data)).toBe(-1);
    buffers.forEach((b) => arena().release(b));
    program.close();
    l.close();
  });

  it('with the calling thread as a runner, a worker that dies holding an image the calling thread waits for in the chain rejects the run, and the next run is right', async () => {
    // Two Relu members image by image (4 images); the faulty worker exits in any Relu task whose input starts
    // with the marker. The calling thread's first task sleeps 100 ms, so the worker claims tasks meanwhile;
    // then the calling thread runs out of ready tasks (the dead worker's image never moves on) and waits in
    // claimReady: past 10 ms on its event loop, where the worker's death is heard.
    const e = engine({ workers: 2, callingThread: true, workerFile: faultyWorker });
    await e.warmup();
    const images = 4;
    const per = 16 * ELEMENT_BLOCK;
    const stages: ProgramStage[] = [0, 1].map((m) => ({ kind: 'ranged', label: `'relu${m}' (Relu)`, op: reluOp(images * per), inputs: [m], outputs: [m + 1], images: { images } }));
    const program = e.program(stages, [images * per, images * per, images * per]);
    expect(program.chains.map((c) => [c.from, c.to])).toEqual([[0, 2]]);
    const buffers = [0, 1, 2].map(() => arena().allocateFloat32(images * per));
    buffers[0].fill(-1);
    buffers[0][0] = FAULT.reluExit;
    const error = await rejectionWithFirstReluHereSlow(() => program.run(buffers));
    expect(program.lastRunMode).toBe('chained');
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toMatch(/^stage [12] of 2 \('relu[01]' \(Relu\)\) failed: the worker running it died \(worker exited with code: 7\)/);
    buffers[0][0] = 2;
    buffers[1].fill(-7);
    buffers[2].fill(-7);
    await program.run(buffers);
    expect(buffers[2][0]).toBe(2);
    expect(buffers[2].subarray(1).every((v) => v === 0)).toBe(true);
    buffers.forEach((b) => arena().release(b));
    program.close();
  });

  it('close during a chained run rejects it and does not hang', async () => {
    const { e, program, buffers } = reluThenConvOnFaultyWorkers();
    buffers[0].set(x.data);
    // The relu passes the marker on: the conv member holds its task until the run is cancelled.
    buffers[0][0] = FAULT.waitForCancel;
    const run = program.run(buffers).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await e.close();
    expect(await run).toMatchObject({ message: expect.stringMatching(/closed while this call was running/) });
    expect(program.lastRunMode).toBe('chained');
    buffers.forEach((b) => arena().release(b));
  });
});
