// How long a program's runner spins at a barrier before it sleeps in
// Atomics.wait. Sleeping is what a loaded machine needs (the CPU goes to
// whoever is computing), spinning what an idle one does (waking from
// Atomics.wait costs tens of microseconds, and at batch 1 a stage's tasks last
// 20-500 µs, so a runner that slept often arrives after its share of the next
// stage was taken). Each runner learns which case it is in from its own
// barriers: a barrier that opened while it spun doubles its budget, one it
// had to sleep through sends it back to the least (64 µs, see MIN_SPIN_US).
// Reset rather than halved: under load (other processes on the cores) halving
// kept runners spinning tens of µs at each of a forward's ~100 barriers, CPU
// the machine's other work wanted (efficientnet_b0 at batch 1 on 2 workers,
// load 7: 51 ms of CPU per forward against 44 before spinning longer).

/**
 * The least spin. At 4 µs, a stage whose two tasks ended 5 µs apart sent a runner to sleep, and a worker
 * woken from Atomics.wait (its vCPU halted meanwhile) arrives tens to hundreds of µs late: each runner
 * kept failing its barriers at the least budget. At batch 1 after a pause (a request at a time), two
 * workers cut stage by stage ran mobilenet_v2 at 13.5-15.3 ms against 19.2-19.9 on one worker, and at
 * 11.0-12.4 ms with the least at 32-256 µs; per round against the tree at 4 µs, 1.08-1.18x on
 * mobilenet_v2, shufflenet_v2 and efficientnet_b0, level at batch 8. Under two busy processes its CPU
 * per forward was +25% (efficientnet_b0) and -12% (mobilenet_v2) (docs/benchmarks.md, "The least
 * spin at 64 µs").
 */
export const MIN_SPIN_US = 64;
/** The most: about the longest task of a batch-1 stage, so an idle machine never sleeps at a barrier. */
export const MAX_SPIN_US = 256;
/** Checks between clock reads (a clock read costs about as much as 20-50 loads of a shared word). */
const LOADS_PER_CHECK = 64;

/** Spins until `moved()` or performance.now() reaches `deadline` (ms); true if it moved. */
export function spinUntil(moved: () => boolean, deadline: number): boolean {
  for (;;) {
    for (let i = 0; i < LOADS_PER_CHECK; i++) if (moved()) return true;
    if (performance.now() >= deadline) return false;
  }
}

/** One worker thread's spin budget, kept across runs so it carries what earlier barriers said. */
export class SpinBudget {
  private us = MIN_SPIN_US;

  get microseconds(): number {
    return this.us;
  }

  /** Spins until `moved()` or the budget runs out; true if it moved. Adapts the budget to the outcome. */
  spin(moved: () => boolean): boolean {
    const opened = spinUntil(moved, performance.now() + this.us / 1000);
    this.us = opened ? Math.min(MAX_SPIN_US, this.us * 2) : MIN_SPIN_US;
    return opened;
  }
}
