// Where the engine's worker threads run, beside the calling thread.
//
// With `callingThread`, a program run cut for several runners has the calling
// thread compute runner 0 while workers compute the others. Linux places a
// woken thread on its waker's CPU or on the CPU it last ran on, and after an
// idle spell (a request at a time) that is often the calling thread's: the
// worker then waits behind the calling thread, which is computing, and the two
// take turns on one CPU while another idles. On this project's 2-vCPU host,
// efficientnet_b0 at batch 1 after 60 ms pauses ran such forwards with every
// one of its 100 multi-task stages on one thread, in 10-15 ms against 6.5-7
// when both computed; a C probe woke a thread onto its waker's CPU 95 times in
// 100 after a 60 ms pause, running 3.7 ms after the wake on average, and 0 in
// 100 at 0.16 ms when kept off that CPU first (docs/benchmarks.md, "A worker
// kept off the calling thread's CPU").
//
// So before such a run the engine reads the calling thread's CPU and lets its
// worker threads run anywhere but there (native/placement.h, sched_setaffinity),
// before the doorbell wakes one.
//
// A run cut on the workers alone meets the same: woken one after the other
// after a pause, the two workers ran on one vCPU through whole stages in 7 of
// 30 mobilenet_v2 forwards at batch 1 (docs/benchmarks.md, "Workers alone
// spread one a CPU"). There the pool's threads are spread, each held to a CPU
// of its own (the nth thread known to the nth CPU the process may use) for the
// run. Other work handed to the workers alone (a convolution, a program run on
// one runner) gives them every CPU back: one runner held to a CPU another
// process keeps busy would wait there. A mask changes only when what a thread
// is held to does. Only where the native addon is built and on Linux;
// elsewhere workers go where the OS puts them.
import { nativeAddon, type NativeThreads } from '../kernels/native/index.js';

let threads: NativeThreads | null | undefined;

/** The addon's thread functions where they work here (Linux, addon built), else null. */
export function threadPlacement(): NativeThreads | null {
  if (threads !== undefined) return threads;
  const addon = nativeAddon();
  threads = addon && typeof addon.osThreadId === 'function' && addon.osThreadId() > 0 ? addon : null;
  return threads;
}

let enabled = true;

/** Turns the placement off (workers then go where the OS puts them) or back on; returns what it was. For benchmarks (bench/placement-ab.ts). */
export function usePlacement(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** The CPU the calling thread is on now (its workers are kept off it), or -1 where that is unknown or the placement is off. */
export function callingThreadCpu(): number {
  return enabled ? (threadPlacement()?.currentCpu() ?? -1) : -1;
}

/** Where a program run's workers go: off the calling thread's CPU beside it, spread one a CPU in a cut without it, else anywhere (ANYWHERE too with the placement off). */
export function programPlace(onCallingThread: boolean, runners: number): WorkerPlace {
  if (onCallingThread) return offCpu(callingThreadCpu());
  return enabled && runners > 1 ? SPREAD : ANYWHERE;
}

/** This thread's kernel id (a worker writes it where the main thread can read it), or 0 where unknown. */
export function ownOsThreadId(): number {
  return Math.max(0, threadPlacement()?.osThreadId() ?? 0);
}

/**
 * Where a runner's worker may run while it computes: anywhere; anywhere but CPU `cpu` (the calling thread
 * computes there); or, the run cut on workers alone, each pool thread on a CPU of its own.
 */
export type WorkerPlace = { kind: 'anywhere' } | { kind: 'off'; cpu: number } | { kind: 'spread' };

export const ANYWHERE: WorkerPlace = Object.freeze({ kind: 'anywhere' });
export const SPREAD: WorkerPlace = Object.freeze({ kind: 'spread' });

/** Anywhere but `cpu` (-1, unknown: anywhere). */
export const offCpu = (cpu: number): WorkerPlace => (cpu < 0 ? ANYWHERE : { kind: 'off', cpu });

/** `place` for the nth known thread, as a key: equal keys, equal masks. */
function keyOf(place: WorkerPlace, nth: number): number {
  if (place.kind === 'off') return place.cpu;
  return place.kind === 'spread' ? -2 - nth : -1;
}

/**
 * Where each of a pool's worker threads may run, by kernel id, and the calls that change it. By thread, not
 * by slot: a slot's parked job runs on whichever of the pool's threads piscina gives it, so every known
 * thread of the pool follows the latest hand-off, which is what a thread piscina wakes for a new job finds.
 */
export class WorkerPlacement {
  /** Kernel id -> the key of its mask (keyOf): -1 anywhere, a CPU it is kept off, -2 - n held to the nth CPU. */
  private readonly masks = new Map<number, number>();

  /** Notes thread `tid` (a worker's, from its doorbell) as one of the pool's; 0 is no thread. */
  know(tid: number): void {
    if (tid > 0 && !this.masks.has(tid)) this.masks.set(tid, -1);
  }

  /** Places every known thread as `place` says: a system call for each whose mask changes. */
  apply(place: WorkerPlace): void {
    let nth = 0;
    for (const [tid, current] of this.masks) {
      const key = keyOf(place, nth++);
      if (current === key) continue;
      const placement = threadPlacement();
      if (!placement) return;
      const done = place.kind === 'spread' ? placement.runOnlyOnNth(tid, nth - 1) : placement.keepOffCpu(tid, place.kind === 'off' ? place.cpu : -1);
      // A thread that is gone (its worker died and the pool replaced it) is forgotten.
      if (done === 0) this.masks.set(tid, key);
      else this.masks.delete(tid);
    }
  }
}
