// The slot dispatcher: hands runner messages to the engine's worker threads
// through their doorbells (doorbell.ts) and settles each with what its worker
// reported. It owns the piscina pool and one slot per worker; a runner goes to
// a free slot (one with a parked runner first, since waking it is cheaper than
// starting a pool job) or waits in a queue until a slot frees up. It knows
// nothing of convolutions: a call is only a tag on its runners (see dropQueued).
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { errors } from '../errors.js';
import { sharedArena } from '../memory/arena.js';
import { Doorbells, PARK_IDLE_MS, SlotState, type ParkMessage } from './doorbell.js';
import { ANYWHERE, WorkerPlacement, type WorkerPlace } from './placement.js';
import type { RunnerReport, WorkerMessage } from './protocol.js';
import { waitAsync } from './wait-async.js';
import type { WorkerFile } from './worker-file.js';

interface DispatcherOptions {
  workers: number;
  workerFile: WorkerFile;
  resourceLimits: ResourceLimits | undefined;
  atomics: 'sync' | 'async' | 'disabled';
}

/** A runner message waiting for, or running on, a worker slot. */
interface Runner {
  message: WorkerMessage;
  /** Where its worker may run meanwhile (placement.ts). */
  place: WorkerPlace;
  /** The call it belongs to (none for pings): only compared, by dropQueued. */
  call: object | null;
  resolve: (report: RunnerReport) => void;
  reject: (error: unknown) => void;
  /** Re-posted once already because the worker it was posted to ended before taking it. */
  reposted?: boolean;
}

/** One worker's doorbell, as the main thread tracks it. */
interface Slot {
  bell: Doorbells;
  /** The runner it runs, or null when free. */
  runner: Runner | null;
  /** A parked-runner job was started for it and has not been seen to end (it may have left since: the exchange tells). */
  parked: boolean;
  /** Number of its current parked-runner job: results of earlier jobs are ignored. */
  job: number;
  /** Number of its current post: a wait on the done counter for an earlier post is ignored. */
  post: number;
}


export class Dispatcher {
  private readonly pool: Piscina;
  /** One doorbell per worker (see doorbell.ts), and the runners waiting for a free one, in order. */
  private readonly control: SharedArrayBuffer;
  private readonly slots: Slot[];
  private queue: Runner[] = [];
  /** Where the pool's threads may run (placement.ts). */
  private readonly placement = new WorkerPlacement();

  constructor({ workers, workerFile, resourceLimits, atomics }: DispatcherOptions) {
    this.pool = new Piscina({
      filename: workerFile.filename,
      workerData: { memory: sharedArena().memory, entry: workerFile.entry },
      // A fixed pool: every worker starts now and stays (piscina unrefs idle
      // workers, and a parked runner hands its worker back after PARK_IDLE_MS
      // without work, so a script that forgets close() still exits).
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Infinity,
      resourceLimits,
      atomics,
      recordTiming: false,
    });
    // A worker dying between runners is reported here rather than through a job; the pool replaces it and
    // no call is affected. The listener must exist all the same: an 'error' event without one would throw.
    this.pool.on('error', () => {});
    this.control = Doorbells.buffer(workers);
    this.slots = Array.from({ length: workers }, (_, i) => ({ bell: new Doorbells(this.control, i), runner: null, parked: false, job: 0, post: 0 }));
  }

  /**
   * Runs `message` on a worker; resolves to its report, or rejects with the error that ended its job.
   * `place`: where the worker may run meanwhile (placement.ts).
   */
  send(message: WorkerMessage, call: object | null, place: WorkerPlace = ANYWHERE): Promise<RunnerReport> {
    return new Promise<RunnerReport>((resolve, reject) => this.dispatch({ message, call, place, resolve, reject }));
  }

  /** A failed call's runners that have not started never will: they would only find the call cancelled. */
  dropQueued(call: object): void {
    const kept: Runner[] = [];
    for (const runner of this.queue) {
      if (runner.call === call) runner.resolve({ threadId: 0, tasks: 0 });
      else kept.push(runner);
    }
    this.queue = kept;
  }

  /** The engine is closing: runners still waiting for a slot will never get one. */
  rejectQueued(): void {
    for (const runner of this.queue.splice(0)) runner.reject(errors.engineClosed());
  }

  /** Returns the parked runners and ends every worker; call it once no runner is on a slot. */
  async close(): Promise<void> {
    // Parked runners return (the pool would end them anyway, but a clean return leaves nothing half-done).
    for (const { bell } of this.slots) {
      if (Atomics.compareExchange(bell.ints, Doorbells.STATE, SlotState.idle, SlotState.quit) === SlotState.idle) Atomics.notify(bell.ints, Doorbells.STATE);
    }
    await this.pool.destroy();
  }

  /** Workers polling for the next run (PARK_POLL_MS) stop and block: the next run needs none of them. */
  stopPolling(): void {
    for (const slot of this.slots) slot.bell.stopPolling();
  }

  /** Hands a runner to a free slot (a parked one first), or queues it until one is free. */
  private dispatch(runner: Runner): void {
    let free: Slot | null = null;
    for (const slot of this.slots) {
      if (slot.runner !== null) continue;
      if (slot.parked) {
        free = slot;
        break;
      }
      free ??= slot;
    }
    if (free) this.post(free, runner);
    else this.queue.push(runner);
  }

  private post(slot: Slot, runner: Runner): void {
    const { bell } = slot;
    slot.runner = runner;
    const post = ++slot.post;
    // Before the doorbell rings: where the woken worker may run is decided as it wakes.
    for (const other of this.slots) this.placement.know(other.bell.osThread());
    this.placement.apply(runner.place);
    bell.write(runner.message);
    const done = bell.done();
    if (slot.parked && Atomics.compareExchange(bell.ints, Doorbells.STATE, SlotState.idle, SlotState.work) === SlotState.idle) {
      Atomics.notify(bell.ints, Doorbells.STATE);
    } else {
      // No runner is parked on the slot (or it just left): start one, with the work already in place.
      Atomics.store(bell.ints, Doorbells.STATE, SlotState.work);
      this.park(slot);
    }
    this.awaitDone(slot, post, done);
  }

  private park(slot: Slot): void {
    const number = ++slot.job;
    slot.parked = true;
    const message: ParkMessage = { kind: 'park', control: this.control, slot: this.slots.indexOf(slot), idleMs: PARK_IDLE_MS };
    let job: Promise<unknown>;
    try {
      job = this.pool.run(message);
    } catch (error) {
      job = Promise.reject(error); // handled like a job that failed, so its runner is settled
    }
    job.then(
      () => {
        if (slot.job === number) slot.parked = false; // it left idle (or quit)
      },
      (error: unknown) => {
        if (slot.job !== number) return;
        slot.parked = false;
        this.slotFailed(slot, error);
      },
    );
  }

  /** Waits (without blocking) until the slot's worker has run post number `post`: its done counter moves past `done`. */
  private awaitDone(slot: Slot, post: number, done: number): void {
    const waited = waitAsync(slot.bell.ints, Doorbells.DONE, done);
    if (waited.async) waited.value.then(() => this.ranOut(slot, post, done));
    else queueMicrotask(() => this.ranOut(slot, post, done));
  }

  private ranOut(slot: Slot, post: number, done: number): void {
    const runner = slot.runner;
    if (slot.post !== post || runner === null) return; // its job failed first, and slotFailed settled it
    if (slot.bell.done() === done) return this.awaitDone(slot, post, done);
    slot.runner = null;
    runner.resolve(slot.bell.reported());
    this.next(slot);
  }

  /** The slot's job ended with an error (a task threw, or its worker died): its runner fails with it. */
  private slotFailed(slot: Slot, error: unknown): void {
    const runner = slot.runner;
    if (runner === null) return; // died between runners; the pool replaces it
    slot.runner = null;
    // Wake the wait on the done counter (its post is over) before anything is posted again.
    const taken = Atomics.load(slot.bell.ints, Doorbells.STATE) !== SlotState.work;
    Atomics.add(slot.bell.ints, Doorbells.DONE, 1);
    Atomics.notify(slot.bell.ints, Doorbells.DONE);
    if (!taken && !runner.reposted) {
      // Its worker died idle, before taking the runner: nothing of it ran, so it runs on a new job (once: a worker
      // entry that fails before taking any work would otherwise be retried forever).
      runner.reposted = true;
      this.post(slot, runner);
      return;
    }
    runner.reject(error);
    this.next(slot);
  }

  private next(slot: Slot): void {
    const runner = this.queue.shift();
    if (runner) this.post(slot, runner);
  }
}
