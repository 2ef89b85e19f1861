// How the paper's AlexNet splits over devices, computed without threads:
// which weights each device holds, the bytes that cross between devices at
// each layer, and what each device needs in memory. Expected figures are
// worked out by hand from the layer shapes (batch 8, 227x227 input).
import { describe, expect, it } from 'vitest';
import { models, type Conv2d } from '../src/index.js';
import { resolveShapes } from '../src/conv/geometry.js';
import { devicePieces, layerCosts, layerShapes, splitLayers } from '../src/devices/from-plan.js';
import { pieceGeometry, transfersInto } from '../src/devices/split-plan.js';
import { graphOfModule } from '../src/split/from-modules.js';
import { planSplit } from '../src/split/plan-split.js';
import { convKernelKind, convScratchFloats, nativeDirectConvolutions, wasmKernelsAvailable } from '../src/kernels/plan/index.js';

/** conv2-5 run Winograd: the WebAssembly kernels without the native ones (which run them direct). */
const winogradRuns = wasmKernelsAvailable() && !nativeDirectConvolutions();

const model = new models.AlexNet();
const graph = graphOfModule(model);
const layers = splitLayers(graph);
const shapes = layerShapes(graph, [8, 3, 227, 227]);
// The split planner's channels plan at batch 8, and the device pieces made from it.
const plan = (devices: number) => planSplit(graph, { devices, batch: 8, inputShape: [3, 227, 227] });
const partition = (devices: number) => devicePieces(model, layers, plan(devices));
const F = 4; // bytes per float
const N = 8;

describe('partition of the paper AlexNet', () => {
  it('names the layers as the paper does', () => {
    expect(layers.map((l) => l.label).join(' ')).toBe(
      'conv1 relu1 lrn1 pool1 conv2 relu2 lrn2 pool2 conv3 relu3 conv4 relu4 conv5 relu5 pool3 flatten dropout6 fc6 relu6 dropout7 fc7 relu7 fc8',
    );
    expect(shapes[14].output).toEqual([8, 256, 6, 6]);
    expect(shapes[shapes.length - 1].output).toEqual([8, 1000]);
  });

  for (const devices of [1, 2, 4]) {
    it(`on ${devices} device(s): every output is computed by exactly one device, and the weights split with nothing lost`, () => {
      const pieces = partition(devices);
      layers.forEach((_, i) => {
        const ranges = pieces.map((p) => p[i].produces);
        expect(ranges[0][0]).toBe(0);
        for (let d = 1; d < devices; d++) expect(ranges[d][0]).toBe(ranges[d - 1][1]);
        expect(ranges[devices - 1][1]).toBe(shapes[i].output[1]);
      });
      const perDevice = pieces.map((p) => p.reduce((s, piece) => s + piece.parameters, 0));
      expect(perDevice.reduce((a, b) => a + b, 0)).toBe(60_965_224);
      for (const count of perDevice) expect(count).toBe(60_965_224 / devices); // every layer splits evenly
    });
  }

  it('on 2 devices: data crosses only at the LRN halos, conv3 and the fully connected layers', () => {
    const pieces = partition(2);
    const received = layerCosts(plan(2)).map((l) => l.map((d) => d.receivedBytes));
    const expected: Record<string, number> = {
      lrn1: 2 * 55 * 55 * N * F, // the 2 maps on the other side of the boundary
      lrn2: 2 * 27 * 27 * N * F,
      conv3: 128 * 13 * 13 * N * F, // the other device's 128 of conv2's 256 maps (pooled)
      fc6: 4608 * N * F, // half of the 9216 flattened features
      fc7: 2048 * N * F,
      fc8: 2048 * N * F,
    };
    layers.forEach((layer, i) => expect(received[i], layer.label).toEqual([expected[layer.label] ?? 0, expected[layer.label] ?? 0]));
    // Device 0 gets maps 48 and 49 for lrn1; device 1 gets 46 and 47.
    const lrn1 = transfersInto(pieces, 2);
    expect(lrn1).toEqual([[{ from: 1, range: [48, 50] }], [{ from: 0, range: [46, 48] }]]);
    // conv2, conv4, conv5: each device works on its own group, and holds half the weights.
    expect(pieces[0][4].needs).toEqual([0, 48]);
    expect(pieces[1][4].needs).toEqual([48, 96]);
    expect(pieces[1][4].weight!.shape).toEqual([128, 48, 5, 5]);
    expect(pieces[1][4].op).toMatchObject({ kind: 'conv', groups: 1 });
    expect(pieces[0][8].needs).toEqual([0, 256]); // conv3 reads everything
  });

  it('on 4 devices: the grouped layers need the sibling quarter of their group', () => {
    const pieces = partition(4);
    const received = layerCosts(plan(4));
    // conv2's group 0 reads pool1 maps [0, 48): device 1 holds [24, 48) and receives [0, 24) from device 0.
    expect(transfersInto(pieces, 4)[1]).toEqual([{ from: 0, range: [0, 24] }]);
    expect(received[4][1].receivedBytes).toBe(24 * 27 * 27 * N * F);
    // conv4 (groups=2): 96 of the group's 192 conv3 maps, from the sibling.
    expect(received[10][3].receivedBytes).toBe(96 * 13 * 13 * N * F);
    // conv3 reads all 256 maps, 192 of them from the three others.
    expect(received[8][2].receivedBytes).toBe(192 * 13 * 13 * N * F);
  });

  it('needs weights plus the largest working set per device: one device over 0.2 GiB, two under', () => {
    const one = plan(1).memory;
    const two = plan(2).memory;
    // One device: every weight, and relu1's input and output (96 maps of 55x55 each).
    expect(one[0].weightBytes).toBe(60_965_224 * F);
    expect(one[0].activationBytes).toBe(2 * 96 * 55 * 55 * N * F);
    expect(one[0].scratchBytes).toBe(0);
    // conv2-5 (stride 1) run Winograd where the native kernels do not (they run them direct), whose
    // weights are 16 floats per 3x3 sub-kernel: conv3-5's (256 x 384 + 192 x 384 + 192 x 256) 3x3
    // kernels take 7 floats more than their 9, conv2's 48 x 256 5x5 kernels (4 sub-kernels) 64 - 25 = 39 more.
    const winogradExtra = winogradRuns ? ((256 * 384 + 192 * 384 + 192 * 256) * 7 + 48 * 256 * 39) * F : 0;
    expect(one[0].transformedWeightBytes).toBe(winogradExtra);
    expect(one[0].totalBytes).toBe(one[0].weightBytes + winogradExtra + one[0].activationBytes);
    expect(one[0].totalBytes).toBeGreaterThan(0.2 * 2 ** 30);
    // Two devices: half the weights; the largest working set is conv1's: the whole image batch in, 48 maps out.
    for (const m of two) {
      expect(m.weightBytes).toBe((60_965_224 / 2) * F);
      expect(m.peakLayer).toBe('conv1');
      expect(m.activationBytes).toBe(3 * 227 * 227 * N * F + 48 * 55 * 55 * N * F);
      // Plus the WebAssembly kernel's scratch for one image's 3 input channels:
      // 16 stride phases of 57x57 (ceil(227 / stride 4), no padding) each, and
      // 4 floats of slack; conv1 tiles its 55-wide rows in row mode, so no
      // plane-layout rows are copied out.
      expect(m.scratchBytes).toBe(wasmKernelsAvailable() ? (3 * 16 * 57 * 57 + 4) * F : 0);
      expect(m.transformedWeightBytes).toBe(winogradExtra / 2);
      expect(m.totalBytes).toBe(m.weightBytes + m.transformedWeightBytes + m.activationBytes + m.scratchBytes);
      expect(m.totalBytes).toBeLessThan(0.2 * 2 ** 30);
    }
  });

  it("runs each device's rows of a convolution with the whole layer's kernel and layout, so each output sums the same taps in the same order", () => {
    const convs = layers.map((l, i) => [l, i] as const).filter(([l]) => l.op.kind === 'conv');
    const whole = convs.map(([l, i]) => {
      const conv = model.features.layers[Number(l.name.split('.')[1])] as Conv2d; // the undivided layer, features.i
      return resolveShapes(shapes[i].input, conv.weight.shape, conv.bias?.shape ?? null, conv.options).geometry;
    });
    if (wasmKernelsAvailable()) expect(whole.map(convKernelKind)).toEqual(['small-groups', ...Array<string>(4).fill(winogradRuns ? 'winograd' : 'general')]);
    for (const devices of [1, 2, 4]) {
      const pieces = partition(devices);
      convs.forEach(([, i], c) => {
        for (const own of pieces) {
          const g = pieceGeometry(own[i], shapes[i].input);
          // What fixes an element's taps and their order: channels per group, kernel, stride, padding, dilation, input size.
          const { inChannelsPerGroup, kernelHeight, kernelWidth, strideH, strideW, padTop, padLeft, dilationH, dilationW, inHeight, inWidth } = g;
          const w = whole[c];
          expect({ inChannelsPerGroup, kernelHeight, kernelWidth, strideH, strideW, padTop, padLeft, dilationH, dilationW, inHeight, inWidth }).toEqual({
            inChannelsPerGroup: w.inChannelsPerGroup, kernelHeight: w.kernelHeight, kernelWidth: w.kernelWidth, strideH: w.strideH, strideW: w.strideW,
            padTop: w.padTop, padLeft: w.padLeft, dilationH: w.dilationH, dilationW: w.dilationW, inHeight: w.inHeight, inWidth: w.inWidth,
          });
          expect(convKernelKind(g)).toBe(convKernelKind(w));
          expect(convScratchFloats(g)).toBe(convScratchFloats(w));
        }
      });
    }
  });

  it('refuses a device count that would split a group unevenly', () => {
    expect(() => partition(3)).toThrow(/conv2: a device's 85 outputs would straddle its 2 groups unevenly/);
    expect(() => partition(0)).toThrow(/devices/);
  });
});
