// What the engine's workers buy on issue #7's layers, measured the way
// bench:peers measures (a pause, one untimed call, one timed call), in ONE
// process: the planned layer on the main thread (bench:peers' "1 thread")
// against GroupedConvEngine with 1 and 2 workers, alternating round by round.
//   flock /tmp/groupconv-bench.lock npx tsx examples/engine-vs-main.ts [--layers shufflenet,depthwise] [--pause 20] [--rounds 15] [--only '2 workers']
// --pause 0 runs the calls back to back.
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { GroupedConvEngine, Random, fullSlice, resolveShapes, zeros, type Tensor } from '../src/index.js';
import { planConv, planScratchFloats, releasePlan, runPlan } from '../src/kernels/plan/index.js';
import { SUITE, layerFlops } from './peers/suite.js';

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
const layers = SUITE.filter((l) => values.layers!.split(',').some((part) => l.name.includes(part)));
if (layers.length === 0) throw new Error(`no layer matches --layers '${values.layers}'`);

const engines = { '1 worker': new GroupedConvEngine({ workers: 1 }), '2 workers': new GroupedConvEngine({ workers: 2 }) };
for (const engine of Object.values(engines)) await engine.warmup();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

console.log(`GFLOP/s, median of ${rounds} rounds (pause ${pauseMs} ms, untimed call, timed call), and ratios over the main thread`);
console.log(`${'layer'.padEnd(18)}${'main'.padStart(8)}${'1 worker'.padStart(10)}${'2 workers'.padStart(11)}   2 workers / main`);
for (const l of layers) {
  const random = new Random(1);
  const fill = (shape: number[], scale: number): Tensor => {
    const t = zeros(shape, { shared: true });
    for (let i = 0; i < t.data.length; i++) t.data[i] = random.normal() * scale;
    return t;
  };
  const [cout, cinG, kh, kw] = l.weight;
  const x = fill(l.input, 1);
  const w = fill(l.weight, 1 / Math.sqrt(cinG * kh * kw));
  const b = fill([cout], 0.5);
  const { geometry } = resolveShapes(l.input, l.weight, [cout], l.options);
  const out = zeros([geometry.batch, geometry.outChannels, geometry.outHeight, geometry.outWidth], { shared: true });
  const plan = planConv(geometry, w.data);
  const slice = fullSlice(geometry);
  const scratch = zeros([planScratchFloats(plan)], { shared: true });
  const engineLayers = Object.values(engines).map((engine) => engine.layer(w, b, l.options));
  const calls: Record<string, () => Promise<unknown>> = {
    main: async () => runPlan(plan, x.data, w.data, b.data, out.data, slice, scratch.data),
    '1 worker': () => engineLayers[0].run(x, { out }),
    '2 workers': () => engineLayers[1].run(x, { out }),
  };
  const names = Object.keys(calls).filter((n) => !values.only || values.only.split(',').includes(n));
  const seconds: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const call of Object.values(calls)) for (let i = 0; i < 3; i++) await call();
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length];
      if (pauseMs > 0) await sleep(pauseMs);
      await calls[name]();
      const start = process.hrtime.bigint();
      await calls[name]();
      seconds[name].push(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }
  const gflops = (name: string) => (seconds[name]?.length ? layerFlops(l) / median(seconds[name]) / 1e9 : NaN);
  console.log(
    `${l.name.padEnd(18)}${gflops('main').toFixed(1).padStart(8)}${gflops('1 worker').toFixed(1).padStart(10)}${gflops('2 workers').toFixed(1).padStart(11)}   ${(gflops('2 workers') / gflops('main')).toFixed(2)}x`,
  );
  for (const layer of engineLayers) layer.close();
  releasePlan(plan);
}
for (const engine of Object.values(engines)) await engine.close();
