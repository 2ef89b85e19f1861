// A worker entry for the failure tests: the real handler, plus faults triggered
// by a marker in the input's first value, in the task whose output channels
// contain the input's second value. Only tests load it.
import { arenaView } from '../../src/memory/arena.js';
import type { WorkerMessage } from '../../src/engine/protocol.js';
import handler from '../../workers/conv-worker.js';
import { FAULT } from './faults.js';


export default function faultyHandler(message: WorkerMessage) {
  if (message.kind === 'conv') {
    const [marker, channel] = arenaView(message.input.byteOffset, 2);
    const mine = message.slice.outChannelStart <= channel && channel < message.slice.outChannelEnd;
    if (marker === FAULT.throwEverywhere) throw new Error('this worker fails every task');
    if (mine && marker === FAULT.throw) throw new RangeError(`injected fault at output channel ${channel}`);
    if (mine && marker === FAULT.exit) process.exit(7);
    if (mine && marker === FAULT.outOfMemory) {
      const hog: number[][] = [];
      for (;;) hog.push(new Array(1 << 20).fill(hog.length));
    }
  }
  return handler(message);
}
