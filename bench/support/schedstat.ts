// The kernel's per-thread scheduler statistics for this process (Linux): how
// long each thread ran and how long it waited for a core. What the split
// benchmarks read around a pass to see which threads took the CPU.
import { readdirSync, readFileSync } from 'node:fs';

/** Per thread of this process: [ns on a CPU, ns waiting on a run queue]. */
export function schedstat(): Map<string, [number, number]> {
  const stats = new Map<string, [number, number]>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      stats.set(tid, [run, wait]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return stats;
}
