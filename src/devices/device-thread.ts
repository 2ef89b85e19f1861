// A device's thread: one long-lived worker wrapped with comlink, so the host
// calls the state object it exposes as async functions, and watched, so a
// thread that dies fails the calls (and passes) waiting on it instead of
// hanging them. An AlexNet device (device.ts) and a device that runs any
// model (model-device.ts) are both this, over different worker entries.
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { errors } from '../errors.js';

/**
 * The worker script for `workers/<entry>`: compiled JavaScript next to the
 * compiled package, or, when this module runs as TypeScript (vitest, tsx), the
 * TypeScript entry loaded through a bootstrap that registers tsx in the worker.
 */
function workerScript(entry: string): { script: URL; entry: URL } {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`../../workers/${entry}.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  return { script: fromSource ? new URL('../../workers/device-bootstrap.mjs', import.meta.url) : url, entry: url };
}

export class DeviceThread<Api> {
  readonly api: Comlink.Remote<Api>;
  private readonly worker: Worker;
  private failure: Error | null = null;
  /** Rejects when the device's thread fails or stops while not being closed. */
  readonly failed: Promise<never>;
  private closed = false;

  /** `entry`: the worker file's name in workers/, without extension; `threadName`: the thread's name, with the index appended. */
  constructor(readonly index: number, entry: string, threadName: string) {
    const { script, entry: url } = workerScript(entry);
    this.worker = new Worker(script, { workerData: { entry: url.href }, name: `${threadName}-${index}` });
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
    this.api = Comlink.wrap<Api>(nodeEndpoint(this.worker as never));
  }

  /** Why the device stopped, if it did (a pass must not wait on it). */
  get failedWith(): Error | null {
    return this.failure;
  }

  /** Runs a call on the device, failing if the device dies meanwhile. */
  async call<T>(fn: (api: Comlink.Remote<Api>) => Promise<T>): Promise<T> {
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
