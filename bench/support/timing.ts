// Timing a call. performance.now() is monotonic and sub-microsecond on Node,
// which is all a difference of two readings needs.

/** Milliseconds one (possibly async) call takes. */
export async function timeMs(call: () => unknown): Promise<number> {
  const start = performance.now();
  await call();
  return performance.now() - start;
}

/** Mean milliseconds per call over `calls` back-to-back calls (for calls too short to time one by one). */
export async function meanMsPerCall(call: () => unknown, calls: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < calls; i++) await call();
  return (performance.now() - start) / calls;
}

/** Each of `calls` back-to-back calls' milliseconds. */
export async function eachCallMs(call: () => unknown, calls: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) times.push(await timeMs(call));
  return times;
}

/** "1.23 ms" or "456 µs", with `microDigits` decimals below a millisecond. */
export function formatMs(ms: number, microDigits = 0): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(microDigits)} µs`;
}
