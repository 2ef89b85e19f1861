// A device: one long-lived worker thread (workers/device-worker) wrapped with
// comlink, so the host calls its DeviceState methods as async functions.
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { errors } from '../errors.js';
import type { DeviceState } from './device-state.js';

/**
 * The worker script: compiled JavaScript next to the compiled package, or,
 * when this module runs as TypeScript (vitest, tsx), the TypeScript entry
 * loaded through a bootstrap that registers tsx in the worker.
 */
function workerScript(): { script: URL; entry: URL } {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`../../workers/device-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  return { script: fromSource ? new URL('../../workers/device-bootstrap.mjs', import.meta.url) : entry, entry };
}

export class Device {
  readonly api: Comlink.Remote<DeviceState>;
  private readonly worker: Worker;
  private failure: Error | null = null;
  private readonly failed: Promise<never>;
  private closed = false;

  constructor(readonly index: number) {
    const { script, entry } = workerScript();
    this.worker = new Worker(script, { workerData: { entry: entry.href }, name: `groupconv-device-${index}` });
    // A worker that dies leaves comlink's pending calls unanswered: fail them instead.
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
    this.failed.catch(() => {}); // observed through call()
    this.api = Comlink.wrap<DeviceState>(nodeEndpoint(this.worker as never));
  }

  /** Runs a call on the device, failing if the device dies meanwhile. */
  async call<T>(fn: (api: Comlink.Remote<DeviceState>) => Promise<T>): Promise<T> {
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
