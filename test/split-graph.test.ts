// The graph the split planner reads, extracted from the zoo's step
// descriptions and from AlexNet: every op a node (the inline residual adds,
// shuffles and flattens included), every state_dict tensor held by exactly
// one node, and shapes that agree with what the forward pass computes.
import { describe, expect, it } from 'vitest';
import { models } from '../src/index.js';
import type { Module } from '../src/layers/module.js';
import { graphOfModule } from '../src/split/from-modules.js';
import { inferShapes } from '../src/split/graph.js';
import { Random, uniformArray } from '../src/random.js';

const zoo: [string, Module, number[]][] = [
  ['ResNeXtBlock', new models.ResNeXtBlock({ inChannels: 64, cardinality: 8, bottleneckWidth: 2, seed: 1 }), [2, 64, 6, 6]],
  ['ShuffleBlock', new models.ShuffleBlock({ inChannels: 32, outChannels: 32, groups: 4, seed: 1 }), [2, 32, 5, 5]],
  ['DepthwiseSeparableConv', new models.DepthwiseSeparableConv({ inChannels: 8, outChannels: 16, stride: 2, seed: 1 }), [2, 8, 9, 9]],
  ['GroupedBottleneck', new models.GroupedBottleneck({ inChannels: 16, outChannels: 32, groups: 4, stride: 2, seed: 1 }), [1, 16, 8, 8]],
  ['MiniGroupNet', new models.MiniGroupNet({ seed: 1 }), [1, 3, 16, 16]],
  ['GlobalDepthwiseConv', new models.GlobalDepthwiseConv({ channels: 16, size: 7, seed: 1 }), [2, 16, 7, 7]],
  ['ResNetBottleneck', new models.ResNetBottleneck({ inChannels: 32, width: 8, seed: 1 }), [1, 32, 6, 6]],
];

describe('graphs of the zoo', () => {
  for (const [name, model, shape] of zoo) {
    it(`${name}: shapes agree with the forward pass, and every state_dict tensor belongs to one node`, () => {
      const graph = graphOfModule(model);
      const shapes = inferShapes(graph, shape);
      const x = { shape, data: uniformArray(new Random(3), shape.reduce((a, b) => a * b, 1), -1, 1) };
      expect(shapes.get(graph.output)).toEqual(model.forward(x).shape);
      const held = graph.nodes.flatMap((n) => n.weights.map((w) => w.name)).sort();
      const stateDict = model.stateDict();
      expect(held).toEqual(Object.keys(stateDict).sort());
      for (const node of graph.nodes) for (const w of node.weights) expect(w.shape, w.name).toEqual(stateDict[w.name].shape);
      expect(new Set(graph.nodes.map((n) => n.name)).size).toBe(graph.nodes.length);
    });
  }

  it('ShuffleBlock: the shuffle and the residual add are nodes; the add reads the block input', () => {
    const graph = graphOfModule(zoo[1][1]);
    expect(graph.nodes.map((n) => n.op.kind).join(' ')).toBe('conv batchnorm relu shuffle conv batchnorm conv batchnorm add relu');
    const add = graph.nodes.find((n) => n.op.kind === 'add')!;
    expect(add.inputs).toEqual(['bn3', 'input']);
    expect(graph.nodes.find((n) => n.op.kind === 'shuffle')!.op).toEqual({ kind: 'shuffle', groups: 4 });
    // The block's one ReLU module runs twice: two nodes, the second named apart.
    expect(graph.nodes.filter((n) => n.op.kind === 'relu').map((n) => n.name)).toEqual(['relu', 'relu:2']);
  });

  it('MiniGroupNet: the stages are expanded, their skips read the stage input, flatten feeds fc', () => {
    const graph = graphOfModule(zoo[4][1]);
    const byName = new Map(graph.nodes.map((n) => [n.name, n]));
    expect(byName.get('stage1.skip.0')!.inputs).toEqual(['stem.2']);
    expect(byName.get('stage1.reduce.0')!.inputs).toEqual(['stem.2']);
    expect(byName.get('stage1.add')!.inputs).toEqual(['stage1.expand.1', 'stage1.skip.1']);
    expect(byName.get('fc')!.inputs).toEqual(['flatten']);
    expect(byName.get('stage2.group_conv.0')!.op).toMatchObject({ kind: 'conv', groups: 4, stride: [2, 2], kernel: [3, 3] });
  });
});

describe('graph of AlexNet', () => {
  it("names the layers as the paper does and infers torchvision's shapes", () => {
    const graph = graphOfModule(new models.AlexNet());
    expect(graph.nodes.map((l) => l.label).join(' ')).toBe(
      'conv1 relu1 lrn1 pool1 conv2 relu2 lrn2 pool2 conv3 relu3 conv4 relu4 conv5 relu5 pool3 flatten dropout6 fc6 relu6 dropout7 fc7 relu7 fc8',
    );
    const shapes = inferShapes(graph, [8, 3, 227, 227]);
    expect(shapes.get('features.14')).toEqual([8, 256, 6, 6]);
    expect(shapes.get('flatten')).toEqual([8, 9216]);
    expect(shapes.get(graph.output)).toEqual([8, 1000]);
    expect(graph.nodes[4].op).toEqual({ kind: 'conv', inChannels: 96, outChannels: 256, kernel: [5, 5], stride: [1, 1], padding: [2, 2], dilation: [1, 1], groups: 2 });
  });

  it('refuses an input that does not fit, naming the layer', () => {
    const graph = graphOfModule(new models.AlexNet());
    expect(() => inferShapes(graph, [1, 3, 200, 200])).toThrow(/fc6: expects \[N, 9216\]/);
    expect(() => inferShapes(graph, [1, 4, 227, 227])).toThrow(/inputShape.*\[N, 3, H, W\]/);
  });
});
