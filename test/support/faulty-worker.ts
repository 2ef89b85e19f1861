// A worker entry for the failure tests: the real handler, plus faults triggered
// by a marker in the input's first value (in the task whose output channels
// contain the input's second value, or in every task), and in a program's
// Relu stage by a marker of its own in its input's first value (in every task
// of this worker's). Only tests load it.
import { RANGED_KERNELS } from '../../src/kernels/ranged/index.js';
import { arenaView, sharedArena } from '../../src/memory/arena.js';
import { createWorkerHandler } from '../../workers/conv-worker.js';
import { FAULT } from './faults.js';

export default createWorkerHandler((message, slice) => {
  const [marker, channel] = arenaView(message.input.byteOffset, 2);
  const mine = slice.outChannelStart <= channel && channel < slice.outChannelEnd;
  if (marker === FAULT.waitForCancel) {
    // Hold the task in its worker until the call is cancelled (the table's first Int32), so abort and close land on a running task.
    Atomics.wait(new Int32Array(sharedArena().buffer, message.table, 1), 0, 0, 20_000);
  }
  if (marker === FAULT.throwEverywhere) throw new Error('this worker fails every task');
  if (mine && marker === FAULT.throw) throw new RangeError(`injected fault at output channel ${channel}`);
  if (mine && marker === FAULT.exit) process.exit(7);
  if (mine && marker === FAULT.outOfMemory) {
    const hog: number[][] = [];
    for (;;) hog.push(new Array(1 << 20).fill(hog.length));
  }
});

// This worker's Relu (a program's ranged stage): the calling thread's is its own module's, so a test that
// runs a program with a runner on the calling thread makes only the worker's tasks fail.
const relu = RANGED_KERNELS.relu;
RANGED_KERNELS.relu = (params, inputs, outputs, start, end) => {
  const marker = inputs[0][0];
  if (marker === FAULT.reluThrow) throw new RangeError('injected fault in a Relu task');
  if (marker === FAULT.reluExit) process.exit(7);
  relu(params, inputs, outputs, start, end);
};
