// MobileNet's depthwise separable convolution (seed 004's DepthwiseSeparableConv(32, 64)).
//   npx tsx examples/depthwise-separable-conv.ts
import { models } from '../src/index.js';
import { compareWithPyTorch, describeModel } from './zoo-demo.js';

await describeModel(
  'DepthwiseSeparableConv({ inChannels: 32, outChannels: 64 })',
  new models.DepthwiseSeparableConv({ inChannels: 32, outChannels: 64, seed: 1 }),
  [4, 32, 64, 64],
);
compareWithPyTorch(new models.DepthwiseSeparableConv({ inChannels: 16, outChannels: 24 }), 'depthwise_separable');
