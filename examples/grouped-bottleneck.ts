// Seed 004's ResNeXt-style GroupedBottleneck(64, 128, groups=8, stride=2).
//   npx tsx examples/grouped-bottleneck.ts
import { models } from '../src/index.js';
import { compareWithPyTorch, describeModel } from './zoo-demo.js';

await describeModel(
  'GroupedBottleneck({ inChannels: 64, outChannels: 128, groups: 8, stride: 2 })',
  new models.GroupedBottleneck({ inChannels: 64, outChannels: 128, groups: 8, stride: 2, seed: 1 }),
  [2, 64, 32, 32],
);
compareWithPyTorch(new models.GroupedBottleneck({ inChannels: 32, outChannels: 64, groups: 8, stride: 2 }), 'grouped_bottleneck_s2');
