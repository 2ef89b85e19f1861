// The A/B tools compare this checkout with another one (a baseline) in ONE
// process: each side imports its own src/index.ts, so it has its own arena,
// kernels and worker pools. Only the public API is used on either side, so a
// baseline from before (or after) an internal restructuring still fits.
//   git archive main | tar -x -C /tmp/groupconv-old && ln -s "$PWD/node_modules" /tmp/groupconv-old/
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errors } from '../../src/errors.js';
import * as current from '../../src/index.js';

export type Groupconv = typeof current;
export { current };

/** The public API of the checkout in `directory` (its src/index.ts, run by tsx). */
export async function loadBaseline(directory: string | undefined): Promise<Groupconv> {
  if (!directory) throw errors.badFlag('--baseline', 'is required (the directory of another groupconv checkout)');
  return (await import(pathToFileURL(resolve(directory, 'src/index.ts')).href)) as Groupconv;
}
