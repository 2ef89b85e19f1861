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
// before the doorbell wakes one; work handed to the workers alone (a
// convolution, a program without the calling thread) gives them every CPU
// back. A mask changes only when that CPU does. Only where the native addon is
// built and on Linux; elsewhere workers go where the OS puts them.
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

/** This thread's kernel id (a worker writes it where the main thread can read it), or 0 where unknown. */
export function ownOsThreadId(): number {
  return Math.max(0, threadPlacement()?.osThreadId() ?? 0);
}

/**
 * The CPU each of a pool's worker threads is kept off, by kernel id (absent: none), and the calls that
 * change it. By thread, not by slot: a slot's parked job runs on whichever of the pool's threads piscina
 * gives it, so every known thread of the pool follows the latest hand-off, which is what a thread piscina
 * wakes for a new job finds.
 */
export class WorkerPlacement {
  private readonly keptOff = new Map<number, number>();

  /** Notes thread `tid` (a worker's, from its doorbell) as one of the pool's; 0 is no thread. */
  know(tid: number): void {
    if (tid > 0 && !this.keptOff.has(tid)) this.keptOff.set(tid, -1);
  }

  /** Lets every known thread run anywhere but `cpu` (-1: anywhere): a system call for each whose mask changes. */
  keepOff(cpu: number): void {
    for (const [tid, current] of this.keptOff) {
      if (current === cpu) continue;
      const placement = threadPlacement();
      if (!placement) return;
      // A thread that is gone (its worker died and the pool replaced it) is forgotten.
      if (placement.keepOffCpu(tid, cpu) === 0) this.keptOff.set(tid, cpu);
      else this.keptOff.delete(tid);
    }
  }
}
