// A simulated GPU: a long-lived worker thread driven through comlink, holding
// its share of the model's weights (see src/devices/device-state.ts).
//
// It does not attach to the host's shared arena: like a GPU it has memory of
// its own. sharedArena() in this thread creates a new WebAssembly memory that
// this thread allocates in, and the WebAssembly kernels run over it.
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { DeviceState } from '../src/devices/device-state.js';
import { errors } from '../src/errors.js';

if (!parentPort) throw errors.notInWorker('device-worker');
Comlink.expose(new DeviceState(), nodeEndpoint(parentPort as never));
