import { RANGED_KERNELS } from '../../src/kernels/ranged/index.js';

/** Markers the faulty worker reacts to, in the input's first value (see faulty-worker.ts). */
export const FAULT = { throw: 1111, exit: 2222, outOfMemory: 3333, throwEverywhere: 4444, waitForCancel: 5555, reluThrow: 6666, reluExit: 7777 } as const;

/**
 * `run()`'s rejection (or undefined) with this thread's Relu kernel sleeping `ms` in its first task: a
 * program with the calling thread as a runner then leaves the other tasks to its workers, where the faulty
 * worker's Relu markers act. The workers' own kernels are theirs, untouched.
 */
export async function rejectionWithFirstReluHereSlow(run: () => Promise<unknown>, ms = 100): Promise<unknown> {
  const relu = RANGED_KERNELS.relu;
  let slept = false;
  RANGED_KERNELS.relu = (params, inputs, outputs, start, end) => {
    if (!slept) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    slept = true;
    relu(params, inputs, outputs, start, end);
  };
  try {
    return await run().then(
      () => undefined,
      (error: unknown) => error,
    );
  } finally {
    RANGED_KERNELS.relu = relu;
  }
}
