// The worker thread of GroupedConvEngine's pool: attach to the main thread's
// shared memory, then run the call's tasks named by each runner message with
// the same kernel code the single-threaded path runs.
import { workerData } from 'node:worker_threads';
import { attachSharedArena } from '../src/memory/arena.js';
import { createWorkerHandler } from '../src/engine/task-runner.js';

attachSharedArena((workerData as { memory: WebAssembly.Memory }).memory);

export { createWorkerHandler };
export default createWorkerHandler();
