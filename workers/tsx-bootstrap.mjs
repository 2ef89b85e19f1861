// Development only: lets a piscina worker thread run the TypeScript worker
// entry through tsx (under vitest or tsx). The compiled package never loads
// this file: it points piscina at dist/workers/*.js directly.
//
// No top-level await: piscina first tries require() on this file, and Node 20
// can require() an ES module only when it has none.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
let entry = null;
const loading = import(workerData.entry).then((module) => {
  entry = module.default;
});

export default function handler(task) {
  // Once loaded, call straight through, so tasks pay no extra promise hop.
  return entry ? entry(task) : loading.then(() => entry(task));
}
