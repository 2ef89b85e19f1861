// `npm run build:native` (and `prepare`, so `npm ci`): builds the native kernels
// with node-gyp, which npm puts on the scripts' PATH, against Node's own headers.
// A machine that cannot build them (no compiler) still installs: the library
// then runs its WebAssembly kernels, which give the same results (src/kernels/native/).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const result = spawnSync('node-gyp', ['rebuild', '--loglevel=warn', '--directory', here], { stdio: 'inherit', shell: process.platform === 'win32' });
if (result.status !== 0) {
  console.warn(`groupconv: the native kernels did not build (node-gyp ${result.error ? result.error.message : `exited with ${result.status}`}); the WebAssembly kernels will run instead`);
}
