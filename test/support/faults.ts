/** Markers the faulty worker reacts to, in the input's first value (see faulty-worker.ts). */
export const FAULT = { throw: 1111, exit: 2222, outOfMemory: 3333, throwEverywhere: 4444, waitForCancel: 5555, reluThrow: 6666, reluExit: 7777 } as const;
