// ShuffleNet's block: grouped 1x1, channel shuffle, depthwise 3x3, grouped 1x1.
//   npx tsx examples/shuffle-block.ts
import { models } from '../src/index.js';
import { compareWithPyTorch, describeModel } from './zoo-demo.js';

await describeModel('ShuffleBlock({ inChannels: 256, outChannels: 256 })', new models.ShuffleBlock({ inChannels: 256, outChannels: 256, seed: 1 }), [1, 256, 28, 28]);
compareWithPyTorch(new models.ShuffleBlock({ inChannels: 64, outChannels: 64, groups: 4 }), 'shuffle_block');
