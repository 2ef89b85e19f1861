// A simulated GPU: a long-lived worker thread driven through comlink, holding
// its share of the model's weights (see src/devices/device-state.ts).
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { DeviceState } from '../src/devices/device-state.js';
import { attachSharedArena } from '../src/memory/arena.js';

if (!parentPort) throw new Error('device-worker must run in a worker thread');
// Kernel plans may keep packed weights and scratch in the host's shared memory.
if (workerData?.memory) attachSharedArena(workerData.memory);
Comlink.expose(new DeviceState(), nodeEndpoint(parentPort as never));
