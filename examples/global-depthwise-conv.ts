// MobileFaceNet's global depthwise convolution: 512x7x7 -> 512x1x1, a learned
// weight for every position of every channel's map.
//   npx tsx examples/global-depthwise-conv.ts
import { models } from '../src/index.js';
import { compareWithPyTorch, describeModel } from './zoo-demo.js';

await describeModel('GlobalDepthwiseConv({ channels: 512, size: 7 })', new models.GlobalDepthwiseConv({ channels: 512, size: 7, seed: 1 }), [8, 512, 7, 7]);
compareWithPyTorch(new models.GlobalDepthwiseConv({ channels: 64, size: 7 }), 'global_depthwise_conv');
