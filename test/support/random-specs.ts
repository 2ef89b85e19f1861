// Random valid conv2d specifications from a seeded generator, shared by the
// property tests of every backend.
import { Random, type Conv2dOptions, type Tensor } from '../../src/index.js';
import type { NaiveSpec } from './naive-conv.js';

export interface RandomConv {
  input: Tensor;
  weight: Tensor;
  bias: Tensor | null;
  options: Conv2dOptions;
  naive: NaiveSpec;
  /** The golden README's tolerance for this case. */
  atol: number;
  description: string;
}

function filled(random: Random, shape: number[], scale: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = random.normal() * scale;
  return { shape, data };
}

export function randomConv(random: Random): RandomConv {
  for (;;) {
    const groups = random.pick([1, 1, 2, 3, 4, 6, 8]);
    const depthwise = random.next() < 0.2;
    const cinPerGroup = depthwise ? 1 : random.int(1, 5);
    const coutPerGroup = random.int(1, depthwise ? 3 : 5);
    const inChannels = groups * cinPerGroup;
    const outChannels = groups * coutPerGroup;
    const kH = random.int(1, 5);
    const kW = random.pick([kH, random.int(1, 5)]);
    const stride: [number, number] = [random.int(1, 3), random.int(1, 3)];
    const dilation: [number, number] = random.next() < 0.7 ? [1, 1] : [random.int(1, 3), random.int(1, 3)];
    const batch = random.int(1, 3);
    const H = random.int(1, 14);
    const W = random.int(1, 14);
    const mode = random.next();
    let padding: Conv2dOptions['padding'];
    let pads: [number, number, number, number];
    if (mode < 0.15 && stride[0] === 1 && stride[1] === 1) {
      padding = 'same';
      const th = dilation[0] * (kH - 1);
      const tw = dilation[1] * (kW - 1);
      pads = [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
    } else if (mode < 0.25) {
      padding = 'valid';
      pads = [0, 0, 0, 0];
    } else {
      const ph = random.int(0, 3);
      const pw = random.next() < 0.5 ? ph : random.int(0, 3);
      padding = random.next() < 0.5 && ph === pw ? ph : [ph, pw];
      pads = [ph, ph, pw, pw];
    }
    if (dilation[0] * (kH - 1) + 1 > H + pads[0] + pads[1] || dilation[1] * (kW - 1) + 1 > W + pads[2] + pads[3]) continue;
    const K = cinPerGroup * kH * kW;
    const input = filled(random, [batch, inChannels, H, W], 1);
    const weight = filled(random, [outChannels, cinPerGroup, kH, kW], 1 / Math.sqrt(K));
    const bias = random.next() < 0.5 ? filled(random, [outChannels], 0.5) : null;
    const maxAbs = (t: Tensor) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    return {
      input,
      weight,
      bias,
      options: { stride, padding, dilation, groups },
      naive: { stride, dilation, padding: pads, groups },
      atol: 1e-5 * Math.sqrt(K) * maxAbs(weight) * maxAbs(input),
      description: `x[${input.shape}] w[${weight.shape}] groups=${groups} stride=${stride} pad=${JSON.stringify(padding)} dil=${dilation} bias=${!!bias}`,
    };
  }
}
