// Development only: lets a piscina worker thread run the TypeScript worker
// entry through tsx (under vitest or tsx). The compiled package never loads
// this file: it points piscina at dist/workers/*.js directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const entry = import(workerData.entry);
export default async function handler(task) {
  return (await entry).default(task);
}
