// What the engine's workers buy on issue #7's layers, measured the way
// bench:peers measures (a pause, one untimed call, one timed call), in ONE
// process: the planned layer on the main thread (bench:peers' "1 thread")
// against GroupedConvEngine with 1 and 2 workers, alternating round by round.
//   flock /tmp/groupconv-bench.lock npx tsx bench/engine-vs-main.ts [--layers shufflenet,depthwise] [--pause 20] [--rounds 15] [--only '2 workers']
// --pause 0 runs the calls back to back.
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '../src/errors.js';
import { GroupedConvEngine, Random, zeros } from '../src/index.js';
import { median } from '../src/statistics.js';
import { layerFlops, outputShape, suiteLayers } from './peers/suite.js';
import { mainThreadConv } from './support/main-thread.js';
import { rotated } from './support/rounds.js';
import { randomShared } from './support/tensors.js';
import { timeMs } from './support/timing.js';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: 'resnext,depthwise,shufflenet' },
    pause: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '15' },
    /** Only these of main, 1 worker, 2 workers (comma-separated): e.g. '2 workers' alone, with nothing interleaved. */
    only: { type: 'string', default: '' },
  },
});
const pauseMs = Number(values.pause);
const rounds = Number(values.rounds);
const layers = suiteLayers(values.layers!);
if (layers.length === 0) throw errors.badFlag('--layers', `no layer matches '${values.layers}'`);

const engines = { '1 worker': new GroupedConvEngine({ workers: 1 }), '2 workers': new GroupedConvEngine({ workers: 2 }) };
for (const engine of Object.values(engines)) await engine.warmup();

console.log(`GFLOP/s, median of ${rounds} rounds (pause ${pauseMs} ms, untimed call, timed call), and ratios over the main thread`);
console.log(`${'layer'.padEnd(18)}${'main'.padStart(8)}${'1 worker'.padStart(10)}${'2 workers'.padStart(11)}   2 workers / main`);
for (const l of layers) {
  const random = new Random(1);
  const [cout, cinG, kh, kw] = l.weight;
  const x = randomShared(random, l.input, 1);
  const w = randomShared(random, l.weight, 1 / Math.sqrt(cinG * kh * kw));
  const b = randomShared(random, [cout], 0.5);
  const out = zeros(outputShape(l), { shared: true });
  const main = mainThreadConv(x, w, b, l.options, out);
  const engineLayers = Object.values(engines).map((engine) => engine.layer(w, b, l.options));
  const calls: Record<string, () => unknown> = {
    main: main.call,
    '1 worker': () => engineLayers[0].run(x, { out }),
    '2 workers': () => engineLayers[1].run(x, { out }),
  };
  const names = Object.keys(calls).filter((n) => !values.only || values.only.split(',').includes(n));
  const ms: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const call of Object.values(calls)) for (let i = 0; i < 3; i++) await call();
  for (let round = 0; round < rounds; round++) {
    for (const name of rotated(names, round)) {
      if (pauseMs > 0) await sleep(pauseMs);
      await calls[name]();
      ms[name].push(await timeMs(calls[name]));
    }
  }
  const gflops = (name: string) => (ms[name]?.length ? layerFlops(l) / median(ms[name]) / 1e6 : NaN);
  console.log(
    `${l.name.padEnd(18)}${gflops('main').toFixed(1).padStart(8)}${gflops('1 worker').toFixed(1).padStart(10)}${gflops('2 workers').toFixed(1).padStart(11)}   ${(gflops('2 workers') / gflops('main')).toFixed(2)}x`,
  );
  for (const layer of engineLayers) layer.close();
  main.release();
}
for (const engine of Object.values(engines)) await engine.close();
