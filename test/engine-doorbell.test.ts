// A slot's message as the worker reads it back (doorbell.ts): every field the
// main thread wrote, a program runner's poll included.
import { describe, expect, it } from 'vitest';
import { Doorbells, PARK_POLL_MS } from '../src/engine/doorbell.js';
import type { WorkerMessage } from '../src/engine/protocol.js';

describe('Doorbells', () => {
  it('a program runner reads back the message written to its slot, its poll included', () => {
    const buffer = Doorbells.buffer(2);
    const messages: WorkerMessage[] = [
      { kind: 'program', programId: 7, program: { byteOffset: 4096, length: 300 }, scratch: { byteOffset: 8192, length: 64 }, table: 128, runner: 1, pollMs: PARK_POLL_MS },
      { kind: 'program', programId: 8, program: { byteOffset: 0, length: 12 }, scratch: { byteOffset: 5e9, length: 1 }, table: 2 ** 31, runner: 0, pollMs: 0 },
    ];
    for (const message of messages) {
      new Doorbells(buffer, 1).write(message);
      expect(new Doorbells(buffer, 1).read()).toEqual(message);
    }
  });

  it('slots do not share fields: a conv runner written to one leaves the other slot\'s program runner as it was', () => {
    const buffer = Doorbells.buffer(2);
    const program: WorkerMessage = { kind: 'program', programId: 3, program: { byteOffset: 64, length: 9 }, scratch: { byteOffset: 128, length: 4 }, table: 256, runner: 1, pollMs: PARK_POLL_MS };
    new Doorbells(buffer, 0).write(program);
    new Doorbells(buffer, 1).write({
      kind: 'conv', planId: 1, plan: { byteOffset: 1, length: 2 }, input: { byteOffset: 3, length: 4 }, weight: { byteOffset: 5, length: 6 }, bias: null,
      output: { byteOffset: 7, length: 8 }, residual: null, scratch: { byteOffset: 9, length: 10 }, table: 11, tasks: 12, runner: 13,
    });
    expect(new Doorbells(buffer, 0).read()).toEqual(program);
  });
});
