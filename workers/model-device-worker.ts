// A device that runs any model (src/devices/model-device-state.ts): a
// long-lived worker thread driven through comlink, holding the whole model in
// memory of its own and running the units of its stage or its share of images.
// Started like workers/device-worker.ts (through workers/device-bootstrap.mjs
// when the sources run as TypeScript).
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ModelDeviceState } from '../src/devices/model-device-state.js';
import { errors } from '../src/errors.js';

if (!parentPort) throw errors.notInWorker('model-device-worker');
Comlink.expose(new ModelDeviceState(), nodeEndpoint(parentPort as never));
