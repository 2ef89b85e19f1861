// One device that runs any model: a worker thread (workers/model-device-worker)
// wrapped with comlink, as device.ts wraps an AlexNet device, and watched so a
// device that dies fails the calls and passes waiting on it instead of hanging them.
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { errors } from '../errors.js';
import type { ModelDeviceState } from './model-device-state.js';

function workerScript(): { script: URL; entry: URL } {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`../../workers/model-device-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  return { script: fromSource ? new URL('../../workers/device-bootstrap.mjs', import.meta.url) : entry, entry };
}

export class ModelDevice {
  readonly api: Comlink.Remote<ModelDeviceState>;
  private readonly worker: Worker;
  private failure: Error | null = null;
  /** Rejects when the device's thread fails or stops while not being closed. */
  readonly failed: Promise<never>;
  private closed = false;

  constructor(readonly index: number) {
    const { script, entry } = workerScript();
    this.worker = new Worker(script, { workerData: { entry: entry.href }, name: `groupconv-model-device-${index}` });
    this.failed = new Promise<never>((_, reject) => {
      this.worker.on('error', (error) => {
        this.failure = errors.deviceFailed(index, error);
        reject(this.failure);
      });
      this.worker.on('exit', (code) => {
        if (this.closed) return;
        this.failure ??= errors.deviceExited(index, code);
        reject(this.failure);
      });
    });
    this.failed.catch(() => {}); // observed through call() and the passes
    this.api = Comlink.wrap<ModelDeviceState>(nodeEndpoint(this.worker as never));
  }

  /** Why the device stopped, if it did (a pass must not wait on it). */
  get failedWith(): Error | null {
    return this.failure;
  }

  /** Runs a call on the device, failing if the device dies meanwhile. */
  async call<T>(fn: (api: Comlink.Remote<ModelDeviceState>) => Promise<T>): Promise<T> {
    if (this.closed) throw errors.deviceClosed(this.index);
    if (this.failure) throw this.failure;
    return Promise.race([fn(this.api), this.failed]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.api[Comlink.releaseProxy]();
    await this.worker.terminate();
  }
}
