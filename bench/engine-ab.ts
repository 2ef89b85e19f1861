// This checkout's engine against another checkout's (a baseline), in ONE
// process, alternating old and new measurement by measurement on the same
// layers, so drifts of the shared machine hit both alike. The layers are
// bench:peers' suite (bench/peers/suite.ts, batch 8), which holds bench:engine's
// AlexNet conv2 (alexnet_conv2_g2), each at 1 and 2 workers: together what
// "bench:engine and bench:peers give the same figures" needs, on the engine.
// At 1 worker it compares the kernels too (one thread, little dispatch).
//   git archive main | tar -x -C /tmp/groupconv-old && ln -s "$PWD/node_modules" /tmp/groupconv-old/
//   flock /tmp/groupconv-bench.lock npx tsx bench/engine-ab.ts --baseline /tmp/groupconv-old [--rounds 7] [--layers alexnet,dense] [--policies group,balanced]
// Each side has its own arena, kernels and pools (its own modules), and its own
// shared copies of the tensors, so neither pays a copy the other does not.
import { parseArgs } from 'node:util';
import { errors } from '../src/errors.js';
import { median, quantile } from '../src/statistics.js';
import { current, loadBaseline, type Groupconv } from './support/baseline.js';
import { otherCoresSince } from './support/load-probe.js';
import { perRoundRatios, rotated } from './support/rounds.js';
import { randomShared } from './support/tensors.js';
import { formatMs, meanMsPerCall } from './support/timing.js';
import { outputShape, suiteLayers, type SuiteLayer } from './peers/suite.js';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    /** Minimum time per measurement: calls are repeated until it is reached (the figure is per call). */
    'min-ms': { type: 'string', default: '40' },
    /** Only the suite layers whose names contain one of these (comma-separated). */
    layers: { type: 'string', default: '' },
    /** Partition policies to run each layer with; balanced is the engine's default (and bench:engine's, bench:peers'). */
    policies: { type: 'string', default: 'balanced' },
  },
});
const baseline = await loadBaseline(values.baseline);
const rounds = Number(values.rounds);
const minMs = Number(values['min-ms']);
const policies = values.policies!.split(',') as Array<'group' | 'balanced'>;
const WORKERS = [1, 2];

interface Case {
  label: string;
  layer: SuiteLayer;
  policy: 'group' | 'balanced';
  workers: number;
}
const layers = suiteLayers(values.layers!);
if (layers.length === 0) throw errors.badFlag('--layers', `no suite layer matches '${values.layers}'`);
const cases: Case[] = layers.flatMap((layer) =>
  policies.flatMap((policy) => WORKERS.map((workers) => ({ label: `${layer.name} ${policy} ${workers}w`, layer, policy, workers }))),
);

/** One side: its engines (1 and 2 workers) and, per case, a prepared layer with shared input and output. */
function side(lib: Groupconv) {
  const engines = new Map(WORKERS.map((w) => [w, new lib.GroupedConvEngine({ workers: w })]));
  const random = new current.Random(5);
  const tensors = new Map(
    layers.map((l) => {
      const [cout, cinG, kh, kw] = l.weight;
      const fanIn = cinG * kh * kw;
      const weight = randomShared(random, l.weight, 1 / Math.sqrt(fanIn), lib.zeros);
      const bias = randomShared(random, [cout], 0.5, lib.zeros);
      const input = randomShared(random, l.input, 1, lib.zeros);
      return [l, { weight, bias, input, out: lib.zeros(outputShape(l), { shared: true }) }];
    }),
  );
  const prepared = cases.map((c) => {
    const t = tensors.get(c.layer)!;
    const layer = engines.get(c.workers)!.layer(t.weight, t.bias, c.layer.options);
    return () => layer.run(t.input, { out: t.out, policy: c.policy });
  });
  return { engines, prepared };
}
const sides = { old: side(baseline), new: side(current) };
for (const s of Object.values(sides)) for (const e of s.engines.values()) await e.warmup();

// Calls per measurement, from an untimed pass of each (which also warms the JIT on every thread).
const callsPer: number[] = [];
for (let i = 0; i < cases.length; i++) {
  await sides.old.prepared[i]();
  await sides.new.prepared[i]();
  const one = await meanMsPerCall(sides.new.prepared[i], 1);
  callsPer.push(Math.max(1, Math.ceil(minMs / one)));
}

const samples = cases.map(() => ({ old: [] as number[], new: [] as number[] }));
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  const otherCores = otherCoresSince();
  for (let i = 0; i < cases.length; i++) {
    for (const which of rotated(['old', 'new'] as const, r + i)) samples[i][which].push(await meanMsPerCall(sides[which].prepared[i], callsPer[i]));
  }
  const busy = otherCores();
  if (busy !== null) loads.push(busy);
  process.stderr.write(`round ${r + 1}/${rounds}${busy !== null ? `: other processes kept ${busy.toFixed(2)} cores busy` : ''}\n`);
}

console.log(`ms per call, medians over ${rounds} rounds (calls per measurement in brackets); baseline ${values.baseline}`);
console.log(`new/old: median of the per-round ratios [quartiles over rounds]`);
console.log(`${'case'.padEnd(40)}${'old'.padStart(11)}${'new'.padStart(11)}  new/old`);
const med = samples.map((s) => ({ old: median(s.old), new: median(s.new) }));
cases.forEach((c, i) => {
  const ratios = perRoundRatios(samples[i].new, samples[i].old);
  const spread = `[${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)}]`;
  console.log(`${`${c.label} [${callsPer[i]}]`.padEnd(40)}${formatMs(med[i].old).padStart(11)}${formatMs(med[i].new).padStart(11)}  ${median(ratios).toFixed(3)} ${spread}`);
});
console.log('\nspeed-up of 2 workers over 1 (medians of per-round ratios):');
for (let i = 0; i + 1 < cases.length; i += 2) {
  const label = cases[i].label.replace(/ 1w$/, '');
  const speedup = (which: 'old' | 'new') => median(perRoundRatios(samples[i][which], samples[i + 1][which])).toFixed(2);
  console.log(`${label.padEnd(40)}old ${speedup('old')}x   new ${speedup('new')}x`);
}
if (loads.length) console.log(`\nother processes kept ${median(loads).toFixed(2)} cores busy (median over rounds; max ${Math.max(...loads).toFixed(2)})`);
for (const s of Object.values(sides)) for (const e of s.engines.values()) await e.close();
