// The engine against another checkout of groupconv (a baseline), in ONE process,
// alternating A and B call by call on the same layers, so drifts of the shared
// machine hit both alike. Made to measure engine changes (e.g. the dispatch):
//   git archive main | tar -x -C /tmp/groupconv-old && ln -s "$PWD/node_modules" /tmp/groupconv-old/
//   flock /tmp/groupconv-bench.lock npx tsx src/bench/engine-ab.ts --baseline /tmp/groupconv-old [--rounds 7]
// Each side has its own arena, kernels and pools (its own modules), and its own
// shared copies of the tensors, so neither pays a copy the other does not.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { absoluteNow } from '../engine/protocol.js';
import { Random } from '../random.js';
import { otherCpuProbe } from './other-cpu.js';
import * as current from '../index.js';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    /** Minimum time per measurement: calls are repeated until it is reached (the figure is per call). */
    'min-ms': { type: 'string', default: '40' },
    /** Only the cases whose label contains this (e.g. 'alexnet'). */
    only: { type: 'string', default: '' },
  },
});
if (!values.baseline) throw new Error('--baseline <directory of another groupconv checkout> is required');
const rounds = Number(values.rounds);
const minMs = Number(values['min-ms']);

type Lib = typeof current;
const baseline = (await import(pathToFileURL(resolve(values.baseline, 'src/index.ts')).href)) as Lib;

interface Case {
  label: string;
  input: number[];
  weight: number[];
  options: { padding: number; groups: number };
  policy: 'group' | 'balanced';
  workers: number;
}
const layers = {
  'resnext-conv G=32': { c: 128, size: 56, k: 3, pad: 1, groups: 32 },
  'depthwise G=256': { c: 256, size: 28, k: 3, pad: 1, groups: 256 },
  'shufflenet-pw G=8': { c: 240, size: 28, k: 1, pad: 0, groups: 8 },
  'alexnet-conv2 G=2': { c: 96, out: 256, size: 27, k: 5, pad: 2, groups: 2 },
} as const;
let cases: Case[] = [];
const plan: Array<[keyof typeof layers, number]> = [
  ['resnext-conv G=32', 2],
  ['resnext-conv G=32', 8],
  ['depthwise G=256', 8],
  ['shufflenet-pw G=8', 8],
  ['alexnet-conv2 G=2', 8],
];
for (const [name, batch] of plan) {
  const l = layers[name];
  const out = 'out' in l ? l.out : l.c;
  for (const policy of ['group', 'balanced'] as const) {
    for (const workers of [1, 2]) {
      cases.push({
        label: `${name} batch ${batch} ${policy} ${workers}w`,
        input: [batch, l.c, l.size, l.size],
        weight: [out, l.c / l.groups, l.k, l.k],
        options: { padding: l.pad, groups: l.groups },
        policy,
        workers,
      });
    }
  }
}

cases = cases.filter((c) => c.label.includes(values.only!));
if (cases.length === 0) throw new Error(`no case matches --only '${values.only}'`);

/** One side: its engines (1 and 2 workers) and, per case, a prepared layer with shared input and output. */
function side(lib: Lib) {
  const engines = new Map([1, 2].map((w) => [w, new lib.GroupedConvEngine({ workers: w })]));
  const random = new Random(5);
  const fill = (shape: number[], scale: number) => {
    const t = lib.zeros(shape, { shared: true });
    for (let i = 0; i < t.data.length; i++) t.data[i] = random.normal() * scale;
    return t;
  };
  const prepared = cases.map((c) => {
    const layer = engines.get(c.workers)!.layer(fill(c.weight, 0.05), fill([c.weight[0]], 1), c.options);
    const input = fill(c.input, 1);
    const y = lib.zeros([c.input[0], c.weight[0], c.input[2] + 2 * c.options.padding - c.weight[2] + 1, c.input[3] + 2 * c.options.padding - c.weight[3] + 1], { shared: true });
    return () => layer.run(input, { out: y, policy: c.policy });
  });
  return { engines, prepared };
}
const sides = { old: side(baseline), new: side(current) };
for (const s of Object.values(sides)) for (const e of s.engines.values()) await e.warmup();

/** Mean ms per call over back-to-back calls lasting at least minMs. */
async function time(run: () => Promise<unknown>, calls: number): Promise<number> {
  const start = absoluteNow();
  for (let i = 0; i < calls; i++) await run();
  return (absoluteNow() - start) / calls;
}
// Calls per measurement, from an untimed pass of each (which also warms the JIT on every thread).
const callsPer = await Promise.all(
  cases.map(async (_, i) => {
    await sides.old.prepared[i]();
    await sides.new.prepared[i]();
    const one = await time(sides.new.prepared[i], 1);
    return Math.max(1, Math.ceil(minMs / one));
  }),
);

const samples = cases.map(() => ({ old: [] as number[], new: [] as number[] }));
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  const probe = otherCpuProbe();
  const roundStart = absoluteNow();
  for (let i = 0; i < cases.length; i++) {
    const order = (r + i) % 2 === 0 ? (['old', 'new'] as const) : (['new', 'old'] as const);
    for (const which of order) samples[i][which].push(await time(sides[which].prepared[i], callsPer[i]));
  }
  if (probe) loads.push(Math.max(0, probe()) / (absoluteNow() - roundStart));
  process.stderr.write(`round ${r + 1}/${rounds}${probe ? `: other processes kept ${loads.at(-1)!.toFixed(2)} cores busy` : ''}\n`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(0)} µs`);
console.log(`medians over ${rounds} rounds, ms per call (calls per measurement in brackets); baseline ${values.baseline}`);
console.log(`${'case'.padEnd(44)}${'old'.padStart(11)}${'new'.padStart(11)}  new/old`);
const med = samples.map((s) => ({ old: median(s.old), new: median(s.new) }));
cases.forEach((c, i) => {
  console.log(`${`${c.label} [${callsPer[i]}]`.padEnd(44)}${fmt(med[i].old).padStart(11)}${fmt(med[i].new).padStart(11)}  ${(med[i].new / med[i].old).toFixed(3)}`);
});
console.log('\nspeed-up of 2 workers over 1 (medians):');
for (let i = 0; i + 1 < cases.length; i += 2) {
  if (cases[i].workers !== 1 || cases[i + 1].workers !== 2) continue;
  const label = cases[i].label.replace(/ 1w$/, '');
  console.log(`${label.padEnd(44)}old ${(med[i].old / med[i + 1].old).toFixed(2)}x   new ${(med[i].new / med[i + 1].new).toFixed(2)}x`);
}
if (loads.length) console.log(`\nother processes kept ${median(loads).toFixed(2)} cores busy (median over rounds; max ${Math.max(...loads).toFixed(2)})`);
for (const s of Object.values(sides)) for (const e of s.engines.values()) await e.close();
