// The fused epilogue against the unfused sequence, on the engine, in ONE
// process, alternating the two measurement by measurement (rotating which goes
// first each round), so drifts of the shared machine hit both alike:
//   fused:   layer (BatchNorm folded, activation in the plan).run(x, { residual, out })
//   unfused: layer.run(x, { out }), then add(·, residual) and relu / clip on the
//            main thread with the library's ops, as a caller without fusion would
// Layers (batch 8): ResNet-18's stage-1 3x3 (64 -> 64 at 56x56, Winograd) +
// BN folded + residual + relu; MobileNetV2's depthwise 3x3 + relu6 at
// 56x56x144 and 14x14x576 (and + relu at 56x56x144), and its 1x1 projection +
// identity; EfficientNet-B0's expansion 1x1 and depthwise 3x3 + BN folded + SiLU
// (the unfused side: the library's `activate(·, 'silu')`, the epilogue's float32
// formula in a JavaScript loop), and MobileNetV3's squeeze-excitation fc2 +
// hardsigmoid. Outputs are checked equal (bits) before timing. --only SUBSTRING
// keeps the layers whose name contains it.
//   flock /tmp/groupconv-bench.lock npx tsx bench/epilogue-ab.ts [--rounds 7] [--workers 2] [--min-ms 150] [--only silu]
import { parseArgs } from 'node:util';
import { activate, add, clip, foldBatchNorm, GroupedConvEngine, Random, relu, zeros, type ActivationOption, type Conv2dOptions, type Tensor } from '../src/index.js';
import { median, quantile } from '../src/statistics.js';
import { otherCoresSince } from './support/load-probe.js';
import { perRoundRatios, rotated } from './support/rounds.js';
import { randomShared } from './support/tensors.js';
import { formatMs, meanMsPerCall } from './support/timing.js';
import { errors } from '../src/errors.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    workers: { type: 'string', default: '2' },
    /** Minimum time per measurement: calls are repeated until it is reached (the figure is per call). */
    'min-ms': { type: 'string', default: '150' },
    only: { type: 'string', default: '' },
  },
});
const rounds = Number(values.rounds);
const minMs = Number(values['min-ms']);
const engine = new GroupedConvEngine({ workers: Number(values.workers) });

interface Layer {
  name: string;
  input: number[];
  weight: number[];
  options: Conv2dOptions;
  activation: ActivationOption;
  residual: boolean;
}
const ALL_LAYERS: Layer[] = [
  { name: 'resnet 3x3 64@56 +bn +res +relu', input: [8, 64, 56, 56], weight: [64, 64, 3, 3], options: { padding: 1 }, activation: 'relu', residual: true },
  { name: 'mbv2 dw3x3 144@56 +relu6', input: [8, 144, 56, 56], weight: [144, 1, 3, 3], options: { padding: 1, groups: 144 }, activation: { kind: 'clip', min: 0, max: 6 }, residual: false },
  { name: 'mbv2 dw3x3 576@14 +relu6', input: [8, 576, 14, 14], weight: [576, 1, 3, 3], options: { padding: 1, groups: 576 }, activation: { kind: 'clip', min: 0, max: 6 }, residual: false },
  // The same depthwise with relu, whose JS op works on the bits (much faster than clip's Math.min / Math.max).
  { name: 'mbv2 dw3x3 144@56 +relu', input: [8, 144, 56, 56], weight: [144, 1, 3, 3], options: { padding: 1, groups: 144 }, activation: 'relu', residual: false },
  // MobileNetV2's projection: 1x1 + BN, then + identity with no activation.
  { name: 'mbv2 project 1x1 192->32@28 +res', input: [8, 192, 28, 28], weight: [32, 192, 1, 1], options: {}, activation: 'none', residual: true },
  { name: 'effnet expand 1x1 24->144@56 +silu', input: [8, 24, 56, 56], weight: [144, 24, 1, 1], options: {}, activation: 'silu', residual: false },
  { name: 'effnet dw3x3 144@56 +silu', input: [8, 144, 56, 56], weight: [144, 1, 3, 3], options: { padding: 1, groups: 144 }, activation: 'silu', residual: false },
  { name: 'mbv3 se fc2 1x1 32->120@1 +hardsigmoid', input: [8, 32, 1, 1], weight: [120, 32, 1, 1], options: {}, activation: 'hardsigmoid', residual: false },
];
const LAYERS = ALL_LAYERS.filter((l) => l.name.includes(values.only));

const random = new Random(14);
const cases = LAYERS.map((l) => {
  const [cout, cinG, kh, kw] = l.weight;
  const conv = randomShared(random, l.weight, 1 / Math.sqrt(cinG * kh * kw));
  const stats = (offset: number, scale: number): Tensor => ({ shape: [cout], data: Float32Array.from({ length: cout }, () => offset + scale * random.uniform(0, 1)) });
  const { weight, bias } = foldBatchNorm(conv, null, { runningMean: stats(-0.1, 0.2), runningVar: stats(0.5, 1), weight: stats(0.5, 1), bias: stats(-0.2, 0.4) });
  const input = randomShared(random, l.input, 1);
  const outShape = [l.input[0], cout, l.input[2], l.input[3]];
  const residual = l.residual ? randomShared(random, outShape, 1) : null;
  const out = zeros(outShape, { shared: true });
  const fusedLayer = engine.layer(weight, bias, { ...l.options, activation: l.activation });
  const plainLayer = engine.layer(weight, bias, l.options);
  const finish = (y: Tensor): Tensor => {
    const summed = residual ? add(y, residual) : y;
    const act = l.activation;
    if (act === 'none') return summed;
    return act === 'relu' ? relu(summed) : typeof act === 'object' && act.kind === 'clip' ? clip(summed, act.min, act.max) : activate(summed, act);
  };
  return {
    layer: l,
    fused: async () => fusedLayer.run(input, { residual, out }),
    unfused: async () => finish(await plainLayer.run(input, { out })),
    /** The convolution alone: what the fused epilogue adds to it. */
    convOnly: async () => plainLayer.run(input, { out }),
  };
});

// Same bits, then the number of calls per measurement from an untimed pass (which also warms the JIT on every thread).
await engine.warmup();
const callsPer: number[] = [];
for (const c of cases) {
  const expected = (await c.unfused()).data.slice();
  const got = await c.fused();
  const a = new Uint32Array(got.data.buffer, got.data.byteOffset, got.data.length);
  const b = new Uint32Array(expected.buffer);
  if (a.some((v, i) => v !== b[i])) throw errors.benchCheck(`${c.layer.name}: fused and unfused results differ`);
  callsPer.push(Math.max(1, Math.ceil(minMs / (await meanMsPerCall(c.fused, 1)))));
}

const samples = cases.map(() => ({ fused: [] as number[], unfused: [] as number[], convOnly: [] as number[] }));
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  const otherCores = otherCoresSince();
  for (let i = 0; i < cases.length; i++) {
    for (const which of rotated(['fused', 'unfused', 'convOnly'] as const, r + i)) samples[i][which].push(await meanMsPerCall(cases[i][which], callsPer[i]));
  }
  const busy = otherCores();
  if (busy !== null) loads.push(busy);
  process.stderr.write(`round ${r + 1}/${rounds}${busy !== null ? `: other processes kept ${busy.toFixed(2)} cores busy` : ''}\n`);
}

console.log(`engine with ${engine.workers} workers, batch 8; ms per call, medians over ${rounds} rounds (calls per measurement in brackets)`);
console.log('ratios: medians of the per-round ratios [quartiles over rounds]; conv only = the same layer without the epilogue');
console.log(`${'layer'.padEnd(40)}${'unfused'.padStart(11)}${'fused'.padStart(11)}${'conv only'.padStart(11)}  fused/unfused         fused/conv only`);
const ratio = (a: number[], b: number[]) => {
  const ratios = perRoundRatios(a, b);
  return `${median(ratios).toFixed(3)} [${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)}]`;
};
cases.forEach((c, i) => {
  const s = samples[i];
  const label = `${c.layer.name} [${callsPer[i]}]`;
  const times = [s.unfused, s.fused, s.convOnly].map((t) => formatMs(median(t)).padStart(11)).join('');
  console.log(`${label.padEnd(40)}${times}  ${ratio(s.fused, s.unfused).padEnd(22)}${ratio(s.fused, s.convOnly)}`);
});
if (loads.length) console.log(`\nother processes kept ${median(loads).toFixed(2)} cores busy (median over rounds; max ${Math.max(...loads).toFixed(2)})`);
await engine.close();
