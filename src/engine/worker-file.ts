// Where the pool's worker code is. From the compiled package (dist/) piscina
// loads dist/workers/conv-worker.js directly. From the TypeScript sources
// (tsx, vitest) worker threads do not inherit vitest's transform, so piscina
// loads workers/tsx-bootstrap.mjs, which registers tsx in the worker thread and
// then imports the .ts entry. tsx is a devDependency: only that path needs it.
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface WorkerFile {
  /** The file piscina loads in each worker thread. */
  filename: string;
  /** For TypeScript entries: the file URL the bootstrap imports (passed in workerData). */
  entry: string | null;
}

const runningFromTypeScript = import.meta.url.endsWith('.ts');

/** The default worker entry (workers/conv-worker), as .ts from sources or .js from dist. */
export function defaultWorkerFile(): WorkerFile {
  return workerFileOf(new URL(`../../workers/conv-worker.${runningFromTypeScript ? 'ts' : 'js'}`, import.meta.url));
}

/**
 * A worker entry given as a path or URL. A .ts entry runs through the tsx
 * bootstrap; anything else is loaded as is. A custom entry must export the
 * default handler of workers/conv-worker (it may wrap it).
 */
export function workerFileOf(file: string | URL): WorkerFile {
  const url = file instanceof URL ? file : file.startsWith('file:') ? new URL(file) : pathToFileURL(file);
  if (url.pathname.endsWith('.ts') || url.pathname.endsWith('.mts')) {
    const bootstrap = new URL(`../../workers/tsx-bootstrap.mjs`, import.meta.url);
    return { filename: fileURLToPath(bootstrap), entry: url.href };
  }
  return { filename: fileURLToPath(url), entry: null };
}
