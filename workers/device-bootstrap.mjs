// Development only: lets a device worker thread run the TypeScript entry
// (workers/device-worker.ts) through tsx, under vitest or `npx tsx`. The
// compiled package starts dist/workers/device-worker.js directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
