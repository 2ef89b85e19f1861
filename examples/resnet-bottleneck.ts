// The plain ResNet bottleneck, to set against ResNeXtBlock's parameters.
//   npx tsx examples/resnet-bottleneck.ts
import { models } from '../src/index.js';
import { compareWithPyTorch, describeModel } from './zoo-demo.js';

await describeModel('ResNetBottleneck({ inChannels: 256, width: 64 })', new models.ResNetBottleneck({ inChannels: 256, width: 64, seed: 1 }), [1, 256, 14, 14]);
console.log(`  (ResNeXtBlock({ inChannels: 256 }) has ${new models.ResNeXtBlock({ inChannels: 256 }).parameterCount().toLocaleString('en-US')})`);
compareWithPyTorch(new models.ResNetBottleneck({ inChannels: 64, width: 16 }), 'resnet_bottleneck');
