// How long a program's runner spins at a barrier before it sleeps in
// Atomics.wait. Sleeping is what a loaded machine needs (the CPU goes to
// whoever is computing), spinning what an idle one does (waking from
// Atomics.wait costs tens of microseconds, and at batch 1 a stage's tasks last
// 20-500 µs, so a runner that slept often arrives after its share of the next
// stage was taken). Each runner learns which case it is in from its own
// barriers: a barrier that opened while it spun doubles its budget, one it
// had to sleep through sends it back to the least. Reset rather than halved:
// under load (other processes on the cores) halving kept runners spinning
// tens of µs at each of a forward's ~100 barriers, CPU the machine's other
// work wanted (efficientnet_b0 at batch 1 on 2 workers, load 7: 51 ms of CPU
// per forward against 44 before spinning longer).

/** The least spin (a few µs: the other runner's last task often ends within it). */
export const MIN_SPIN_US = 4;
/** The most: about the longest task of a batch-1 stage, so an idle machine never sleeps at a barrier. */
export const MAX_SPIN_US = 256;
/** Loads of the completed word between clock reads (a clock read costs about as much as 20-50 loads). */
const LOADS_PER_CHECK = 64;

/** One worker thread's spin budget, kept across runs so it carries what earlier barriers said. */
export class SpinBudget {
  private us = MIN_SPIN_US;

  get microseconds(): number {
    return this.us;
  }

  /** Spins until `moved()` or the budget runs out; true if it moved. Adapts the budget to the outcome. */
  spin(moved: () => boolean): boolean {
    const deadline = performance.now() + this.us / 1000;
    for (;;) {
      for (let i = 0; i < LOADS_PER_CHECK; i++) {
        if (moved()) {
          this.us = Math.min(MAX_SPIN_US, this.us * 2);
          return true;
        }
      }
      if (performance.now() >= deadline) {
        this.us = MIN_SPIN_US;
        return false;
      }
    }
  }
}
