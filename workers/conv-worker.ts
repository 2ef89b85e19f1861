// The worker thread of GroupedConvEngine's pool: attach to the main thread's
// shared memory, then compute whatever slice each message names with the same
// kernel code the single-threaded path runs.
import { workerData } from 'node:worker_threads';
import { attachSharedArena } from '../src/memory/arena.js';
import { handleWorkerMessage } from '../src/engine/task-runner.js';

attachSharedArena((workerData as { memory: WebAssembly.Memory }).memory);

export default handleWorkerMessage;
