// The models `groupconv split --model NAME` knows, each with the shape the
// block has in the network it comes from and that network's input there.
import type { Module } from '../layers/module.js';
import { AlexNet } from '../models/alexnet.js';
import { DepthwiseSeparableConv } from '../models/depthwise-separable-conv.js';
import { GlobalDepthwiseConv } from '../models/global-depthwise-conv.js';
import { GroupedBottleneck } from '../models/grouped-bottleneck.js';
import { MiniGroupNet } from '../models/mini-group-net.js';
import { ResNetBottleneck } from '../models/resnet-bottleneck.js';
import { ResNeXtBlock } from '../models/resnext-block.js';
import { ShuffleBlock } from '../models/shuffle-block.js';

export interface NamedModel {
  /** Builds the model with seeded weights. */
  build(seed: number): Module;
  /** One image's [channels, height, width]. */
  inputShape: [number, number, number];
  about: string;
}

export const SPLIT_MODELS: Record<string, NamedModel> = {
  alexnet: { build: (seed) => new AlexNet({ seed }), inputShape: [3, 227, 227], about: "the paper's AlexNet" },
  'resnext-block': { build: (seed) => new ResNeXtBlock({ inChannels: 256, seed }), inputShape: [256, 56, 56], about: 'ResNeXt-50 conv2 block, 32 groups x 4' },
  'resnet-bottleneck': { build: (seed) => new ResNetBottleneck({ inChannels: 256, width: 64, seed }), inputShape: [256, 56, 56], about: 'ResNet-50 conv2 bottleneck' },
  'shuffle-block': { build: (seed) => new ShuffleBlock({ inChannels: 240, outChannels: 240, groups: 3, seed }), inputShape: [240, 28, 28], about: 'ShuffleNet unit, groups 3' },
  'depthwise-separable-conv': {
    build: (seed) => new DepthwiseSeparableConv({ inChannels: 32, outChannels: 64, seed }),
    inputShape: [32, 112, 112],
    about: "MobileNet's first depthwise separable block",
  },
  'grouped-bottleneck': {
    build: (seed) => new GroupedBottleneck({ inChannels: 64, outChannels: 128, groups: 4, stride: 2, seed }),
    inputShape: [64, 56, 56],
    about: 'grouped bottleneck, groups 4, stride 2',
  },
  'mini-group-net': { build: (seed) => new MiniGroupNet({ seed }), inputShape: [3, 32, 32], about: 'small grouped classifier (two grouped bottlenecks)' },
  'global-depthwise-conv': { build: (seed) => new GlobalDepthwiseConv({ channels: 512, size: 7, seed }), inputShape: [512, 7, 7], about: "MobileFaceNet's global depthwise conv" },
};
