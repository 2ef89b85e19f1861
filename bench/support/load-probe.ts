// How busy other processes kept the (shared) machine while a benchmark ran.
import { readFileSync } from 'node:fs';

/**
 * CPU time (in core-ms) that other processes used: the machine's busy time from
 * /proc/stat minus this process's own (all its threads). Linux only; null elsewhere.
 */
export function otherCpuProbe(): (() => number) | null {
  if (process.platform !== 'linux') return null;
  const machineBusyMs = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3] + (fields[4] ?? 0);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return ((total - idle) * 1000) / 100; // USER_HZ is 100 on Linux
  };
  const ownMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const machine0 = machineBusyMs();
  const own0 = ownMs();
  return () => machineBusyMs() - machine0 - (ownMs() - own0);
}

/**
 * Starts a probe and returns a function giving the cores other processes kept
 * busy on average since then (null where the probe does not work).
 */
export function otherCoresSince(): () => number | null {
  const probe = otherCpuProbe();
  const start = performance.now();
  return () => (probe ? Math.max(0, probe()) / (performance.now() - start) : null);
}
