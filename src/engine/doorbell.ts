// Parked runners: each of the engine's worker threads runs one long-lived pool
// job (a "parked runner") that waits on its slot's doorbell in shared memory
// instead of going back to the pool between calls. The main thread hands a
// runner to a parked worker by writing the runner's message into the slot and
// ringing the doorbell (Atomics.store + notify); the worker rings back through
// the slot's done counter (the main thread waits on it with Atomics.waitAsync).
// No message port, no structured clone, no pool bookkeeping per call.
//
// The pool still owns the threads: a slot whose worker has no parked job (never
// started, left after PARK_IDLE_MS without work, or died) is re-parked with
// pool.run; its first runner is already in the slot when the job starts.
// Failures (a throwing task, a dying worker) end the job: its pool promise
// rejects as before and the dispatcher (dispatcher.ts) charges the error to the slot's runner.
// A parked worker blocks in Atomics.wait at once, without polling first: a
// 20 µs poll made back-to-back pings faster but whole small calls 3-20% slower
// on 2 cores, where the main thread needs the other core. The exception is a
// program runner whose run left a core free for the calling thread: it polls
// for the next run PARK_POLL_MS first (see there), unless a run on the calling
// thread alone tells it to stop (STOP_POLL).
import { spinUntil } from './barrier-spin.js';
import type { ConvRunMessage, ProgramRunMessage, WorkerMessage } from './protocol.js';

/** Values of a slot's STATE word. */
export const SlotState = {
  /** A parked runner waits on the doorbell. */
  idle: 0,
  /** A runner's message is in the slot: run it. */
  work: 1,
  /** The worker took the work and runs it. */
  running: 2,
  /** The engine is closing: the parked runner returns. */
  quit: 3,
  /** The parked runner left (idle too long, or quit); the slot needs a new pool job. */
  gone: 4,
} as const;

/**
 * How long a parked runner waits for work before it gives its worker back to
 * the pool. Idle pool workers are unref'd, so this is also how long a script
 * that forgot close() stays alive after its last call.
 */
export const PARK_IDLE_MS = 200;

/**
 * How long a parked worker polls its doorbell after a program run before it blocks, where the run's
 * workers and the calling thread had a core each (the engine's program, program.ts). Why: a forward
 * after an idle spell ran slow in a third of the calls at batch 1, one thread's tasks taking 40-70%
 * longer or both threads waiting, while onnxruntime-node, whose threads spin after a run, kept its
 * time. efficientnet_b0 at batch 1 with the calling thread and one worker, each round a pause of 60
 * ms and two calls, the second timed: 64 of 180 timed calls were over 1.3x the fastest when the
 * worker blocked at once, 14 of 180 when it polled 20 ms first (mean time 1.27-1.47x onnxruntime's two
 * threads' in the same rounds, against 1.26-1.34x). A 2 ms poll did about half as well. Two workers on
 * 2 cores, the main thread waiting beside them, gained nothing: a poller then takes the core the main
 * thread needs (docs/benchmarks.md, "A worker polls 20 ms after a program run").
 */
export const PARK_POLL_MS = 20;

/** The pool job that parks a runner on slot `slot` of `control`. */
export interface ParkMessage {
  kind: 'park';
  control: SharedArrayBuffer;
  slot: number;
  idleMs: number;
}

const SLOT_BYTES = 256; // 4 cache lines: slots of different workers never share one
const STATE = 0;
const DONE = 1;
/**
 * Set by the main thread when a run needs none of the engine's workers (a run on the calling thread
 * alone): a worker polling after a program run stops and blocks. Why: under load a poller shares a core
 * with the calling thread's run, which then took 27 ms where it takes 19 (efficientnet_b0 at batch 1,
 * the second vCPU busy with another process), and a cut paired with that run looked faster than it was
 * (docs/benchmarks.md, "A poller stops when the calling thread runs alone"). Cleared with each message.
 */
const STOP_POLL = 2;
/** The worker thread's kernel id (placement.ts), written by each parked job as it starts; 0 where unknown. */
const OS_THREAD = 3;
const FIELDS_OFFSET = 64;

const KIND_PING = 0;
const KIND_CONV = 1;
const KIND_PROGRAM = 2;
// Float64 fields of the message (byte offsets reach 4 GiB: too large for Int32).
const F = {
  kind: 0,
  planId: 1,
  planOffset: 2,
  planLength: 3,
  inputOffset: 4,
  inputLength: 5,
  weightOffset: 6,
  weightLength: 7,
  biasOffset: 8, // -1: no bias
  biasLength: 9,
  outputOffset: 10,
  outputLength: 11,
  scratchOffset: 12,
  scratchLength: 13,
  table: 14,
  tasks: 15,
  runner: 16,
  // Written back by the worker:
  threadId: 17,
  ran: 18,
  residualOffset: 19, // -1: no residual
  residualLength: 20,
  pollMs: 21, // program runners only
  nativeRuns: 22, // program runners only: 1 or 0
  profiled: 23, // program runners only: 1 or 0
} as const;

/** One engine's slots (one per worker), over a SharedArrayBuffer of its own. */
export class Doorbells {
  readonly ints: Int32Array;
  private readonly fields: Float64Array;

  constructor(buffer: SharedArrayBuffer, slot: number) {
    this.ints = new Int32Array(buffer, slot * SLOT_BYTES, FIELDS_OFFSET / 4);
    this.fields = new Float64Array(buffer, slot * SLOT_BYTES + FIELDS_OFFSET, (SLOT_BYTES - FIELDS_OFFSET) / 8);
  }

  static buffer(slots: number): SharedArrayBuffer {
    return new SharedArrayBuffer(slots * SLOT_BYTES);
  }

  static readonly STATE = STATE;
  static readonly DONE = DONE;
  static readonly STOP_POLL = STOP_POLL;

  /** Worker: says which OS thread it is (the main thread keeps it off the calling thread's CPU, placement.ts). */
  setOsThread(tid: number): void {
    Atomics.store(this.ints, OS_THREAD, tid);
  }

  /** Main thread: the slot's worker thread's kernel id, or 0 while no job has said. */
  osThread(): number {
    return Atomics.load(this.ints, OS_THREAD);
  }

  done(): number {
    return Atomics.load(this.ints, DONE);
  }

  /** Main thread: writes a runner's message (plain stores, published by the STATE store that follows). */
  write(message: WorkerMessage): void {
    const f = this.fields;
    Atomics.store(this.ints, STOP_POLL, 0);
    if (message.kind === 'ping') {
      f[F.kind] = KIND_PING;
      return;
    }
    if (message.kind === 'program') {
      // A program runner reuses the conv fields it shares a meaning with: id, description, scratch, table, runner.
      f[F.kind] = KIND_PROGRAM;
      f[F.planId] = message.programId;
      f[F.planOffset] = message.program.byteOffset;
      f[F.planLength] = message.program.length;
      f[F.scratchOffset] = message.scratch.byteOffset;
      f[F.scratchLength] = message.scratch.length;
      f[F.table] = message.table;
      f[F.runner] = message.runner;
      f[F.pollMs] = message.pollMs;
      f[F.nativeRuns] = message.nativeRuns ? 1 : 0;
      f[F.profiled] = message.profiled ? 1 : 0;
      return;
    }
    f[F.kind] = KIND_CONV;
    f[F.planId] = message.planId;
    f[F.planOffset] = message.plan.byteOffset;
    f[F.planLength] = message.plan.length;
    f[F.inputOffset] = message.input.byteOffset;
    f[F.inputLength] = message.input.length;
    f[F.weightOffset] = message.weight.byteOffset;
    f[F.weightLength] = message.weight.length;
    f[F.biasOffset] = message.bias ? message.bias.byteOffset : -1;
    f[F.biasLength] = message.bias ? message.bias.length : 0;
    f[F.outputOffset] = message.output.byteOffset;
    f[F.outputLength] = message.output.length;
    f[F.residualOffset] = message.residual ? message.residual.byteOffset : -1;
    f[F.residualLength] = message.residual ? message.residual.length : 0;
    f[F.scratchOffset] = message.scratch.byteOffset;
    f[F.scratchLength] = message.scratch.length;
    f[F.table] = message.table;
    f[F.tasks] = message.tasks;
    f[F.runner] = message.runner;
  }

  /** Main thread: a worker polling for the next run (PARK_POLL_MS) stops and blocks. */
  stopPolling(): void {
    Atomics.store(this.ints, STOP_POLL, 1);
  }

  /** Worker: the slot's state once it leaves idle, or idle at `until` (performance.now() ms) or once the main thread says stop. */
  poll(until: number): number {
    const ints = this.ints;
    spinUntil(() => Atomics.load(ints, STATE) !== SlotState.idle || Atomics.load(ints, STOP_POLL) !== 0, until);
    return Atomics.load(ints, STATE);
  }

  /** Worker: the message the main thread wrote. */
  read(): WorkerMessage {
    const f = this.fields;
    if (f[F.kind] === KIND_PING) return { kind: 'ping' };
    if (f[F.kind] === KIND_PROGRAM) {
      const program: ProgramRunMessage = {
        kind: 'program',
        programId: f[F.planId],
        program: { byteOffset: f[F.planOffset], length: f[F.planLength] },
        scratch: { byteOffset: f[F.scratchOffset], length: f[F.scratchLength] },
        table: f[F.table],
        runner: f[F.runner],
        pollMs: f[F.pollMs],
        nativeRuns: f[F.nativeRuns] === 1,
        profiled: f[F.profiled] === 1,
      };
      return program;
    }
    const message: ConvRunMessage = {
      kind: 'conv',
      planId: f[F.planId],
      plan: { byteOffset: f[F.planOffset], length: f[F.planLength] },
      input: { byteOffset: f[F.inputOffset], length: f[F.inputLength] },
      weight: { byteOffset: f[F.weightOffset], length: f[F.weightLength] },
      bias: f[F.biasOffset] < 0 ? null : { byteOffset: f[F.biasOffset], length: f[F.biasLength] },
      output: { byteOffset: f[F.outputOffset], length: f[F.outputLength] },
      residual: f[F.residualOffset] < 0 ? null : { byteOffset: f[F.residualOffset], length: f[F.residualLength] },
      scratch: { byteOffset: f[F.scratchOffset], length: f[F.scratchLength] },
      table: f[F.table],
      tasks: f[F.tasks],
      runner: f[F.runner],
    };
    return message;
  }

  /** Worker: records what the runner did (read by the main thread after the done counter moves). */
  report(threadId: number, ran: number): void {
    this.fields[F.threadId] = threadId;
    this.fields[F.ran] = ran;
  }

  reported(): { threadId: number; tasks: number } {
    return { threadId: this.fields[F.threadId], tasks: this.fields[F.ran] };
  }
}
