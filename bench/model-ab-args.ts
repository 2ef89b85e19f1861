// The flags and the two variants of the whole-model A/B scripts (program-ab.ts,
// program-cpu-ab.ts): this tree against the checkout at --before, each with its
// own arena and engines.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errors } from '../src/errors.js';

export interface Variant {
  name: string;
  api: typeof import('../src/index.js');
}

export interface ModelAbArgs {
  model: string;
  batch: number;
  rounds: number;
  runs: number;
  /** --calling-thread: both trees' engines with callingThread. */
  callingThread: boolean;
  /** --pause MS: before each timed call, a pause and one untimed call (a request at a time, as bench:peers calls); 0: back to back. */
  pauseMs: number;
  /** --rounding-changed: the two trees round differently on purpose; their outputs need only agree to 1e-4 of the output's range. */
  roundingChanged: boolean;
  variants: Variant[];
}

/** Reads --before, --model, --batch, --rounds, --runs (the two default as given), --calling-thread and --pause, and loads both trees. */
export async function modelAbArgs(defaults: { rounds: number; runs: number }): Promise<ModelAbArgs> {
  const { values } = parseArgs({
    options: {
      before: { type: 'string' },
      model: { type: 'string' },
      batch: { type: 'string', default: '8' },
      rounds: { type: 'string', default: String(defaults.rounds) },
      runs: { type: 'string', default: String(defaults.runs) },
      'calling-thread': { type: 'boolean', default: false },
      pause: { type: 'string', default: '0' },
      'rounding-changed': { type: 'boolean', default: false },
    },
  });
  if (!values.before || !values.model) throw errors.badFlag('--before/--model', 'both are required');
  const variants: Variant[] = [
    { name: 'before', api: (await import(resolve(values.before, 'src/index.ts'))) as Variant['api'] },
    { name: 'after', api: await import('../src/index.js') },
  ];
  const pauseMs = Number(values.pause);
  if (!Number.isFinite(pauseMs) || pauseMs < 0) throw errors.badFlag('--pause', `expected milliseconds >= 0, got ${values.pause}`);
  return { model: values.model, batch: Number(values.batch), rounds: Number(values.rounds), runs: Number(values.runs), callingThread: values['calling-thread'] ?? false, pauseMs, roundingChanged: values['rounding-changed'] ?? false, variants };
}

/**
 * Each variant's model, a shared input of --batch images and engines of 1 and 2
 * workers; refuses to go on unless both trees compute the same bits (with
 * --rounding-changed, the same values to 1e-4 of the output's range).
 */
export async function setUpVariants({ model: path, batch, callingThread, roundingChanged, variants }: ModelAbArgs) {
  const setups = variants.map((v) => {
    const model = v.api.loadOnnx(path);
    const shape = (model.inputs[0].shape ?? []).map((d, i) => (i === 0 ? batch : (d as number)));
    const x = v.api.zeros(shape, { shared: true });
    for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i * 0.37);
    const engines = [1, 2].map((workers) => new v.api.GroupedConvEngine({ workers, callingThread }));
    return { ...v, model, x, engines };
  });
  const check = await Promise.all(setups.map((s) => s.model.forwardWith(s.engines[1], s.x)));
  if (roundingChanged) {
    const range = check[0].data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst = check[0].data.reduce((m, v, i) => Math.max(m, Math.abs(v - check[1].data[i])), 0);
    if (!(worst <= 1e-4 * range)) throw errors.benchCheck(`before and after disagree: max |difference| ${worst} over an output range of ${range}`);
  } else if (check[0].data.some((value, i) => !Object.is(value, check[1].data[i]))) throw errors.benchCheck('before and after disagree');
  return setups;
}
