// A slot's message as the worker reads it back (doorbell.ts): every field the
// main thread wrote, a program runner's poll and native runs included; and the poll after a
// program run, which the main thread can stop.
import { describe, expect, it } from 'vitest';
import { Doorbells, PARK_POLL_MS, SlotState } from '../src/engine/doorbell.js';
import type { WorkerMessage } from '../src/engine/protocol.js';

describe('Doorbells', () => {
  it('a program runner reads back the message written to its slot, its poll included', () => {
    const buffer = Doorbells.buffer(2);
    const messages: WorkerMessage[] = [
      { kind: 'program', programId: 7, program: { byteOffset: 4096, length: 300 }, scratch: { byteOffset: 8192, length: 64 }, table: 128, runner: 1, pollMs: PARK_POLL_MS, nativeRuns: false, profiled: true },
      { kind: 'program', programId: 8, program: { byteOffset: 0, length: 12 }, scratch: { byteOffset: 5e9, length: 1 }, table: 2 ** 31, runner: 0, pollMs: 0, nativeRuns: true, profiled: false },
    ];
    for (const message of messages) {
      new Doorbells(buffer, 1).write(message);
      expect(new Doorbells(buffer, 1).read()).toEqual(message);
    }
  });

  it('slots do not share fields: a conv runner written to one leaves the other slot\'s program runner as it was', () => {
    const buffer = Doorbells.buffer(2);
    const program: WorkerMessage = { kind: 'program', programId: 3, program: { byteOffset: 64, length: 9 }, scratch: { byteOffset: 128, length: 4 }, table: 256, runner: 1, pollMs: PARK_POLL_MS, nativeRuns: false, profiled: true };
    new Doorbells(buffer, 0).write(program);
    new Doorbells(buffer, 1).write({
      kind: 'conv', planId: 1, plan: { byteOffset: 1, length: 2 }, input: { byteOffset: 3, length: 4 }, weight: { byteOffset: 5, length: 6 }, bias: null,
      output: { byteOffset: 7, length: 8 }, residual: null, scratch: { byteOffset: 9, length: 10 }, table: 11, tasks: 12, runner: 13,
    });
    expect(new Doorbells(buffer, 0).read()).toEqual(program);
  });

  it('a worker polling for the next run stops at once when the main thread says so, and the next message lifts the stop', () => {
    const buffer = Doorbells.buffer(2);
    const main = new Doorbells(buffer, 1);
    const worker = new Doorbells(buffer, 1);
    main.stopPolling();
    // Without the stop it would spin until its deadline, 5 s on: the slot stays idle.
    const start = performance.now();
    expect(worker.poll(start + 5000)).toBe(SlotState.idle);
    expect(performance.now() - start).toBeLessThan(2500);
    // The other slot's worker was not told to stop.
    expect(Atomics.load(new Doorbells(buffer, 0).ints, Doorbells.STOP_POLL)).toBe(0);
    main.write({ kind: 'program', programId: 1, program: { byteOffset: 0, length: 1 }, scratch: { byteOffset: 0, length: 1 }, table: 0, runner: 1, pollMs: PARK_POLL_MS, nativeRuns: false, profiled: false });
    expect(Atomics.load(worker.ints, Doorbells.STOP_POLL)).toBe(0);
    // Work posted while a worker polls ends the poll with the slot's new state.
    Atomics.store(main.ints, Doorbells.STATE, SlotState.work);
    expect(worker.poll(performance.now() + 5000)).toBe(SlotState.work);
  });
});
