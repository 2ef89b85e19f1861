// ResNeXt's bottleneck block (32 groups of 4 channels in the 3x3).
//   npx tsx examples/resnext-block.ts
import { models } from '../src/index.js';
import { compareWithPyTorch, describeModel } from './zoo-demo.js';

await describeModel('ResNeXtBlock({ inChannels: 256 })', new models.ResNeXtBlock({ inChannels: 256, seed: 1 }), [1, 256, 14, 14]);
compareWithPyTorch(new models.ResNeXtBlock({ inChannels: 64, cardinality: 8, bottleneckWidth: 4 }), 'resnext_block');
