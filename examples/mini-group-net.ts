// Seed 004's MiniGroupNet classifier (stem, two grouped bottlenecks, pool, fc).
//   npx tsx examples/mini-group-net.ts
import { models } from '../src/index.js';
import { compareWithPyTorch, describeModel } from './zoo-demo.js';

await describeModel('MiniGroupNet({ groups: 8 })', new models.MiniGroupNet({ groups: 8, seed: 1 }), [4, 3, 64, 64]);
compareWithPyTorch(new models.MiniGroupNet({ groups: 8 }), 'mini_group_net');
