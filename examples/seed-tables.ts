// The tables of the grouped-convolution seed material, computed by groupconv:
// the groups sweep of Conv2d(256, 256, 3), ResNet versus ResNeXt parameters,
// and the channel shuffle of arange(8).
//   npx tsx examples/seed-tables.ts
import { ChannelShuffle, Conv2d, Sequential, tensor } from '../src/index.js';

const fmt = (n: number) => n.toLocaleString('en-US');

console.log('=== Groups: Conv2d(256, 256, 3, padding=1, bias=False) ===');
for (const G of [1, 2, 4, 8, 16, 32, 64, 256]) {
  const conv = new Conv2d({ inChannels: 256, outChannels: 256, kernelSize: 3, padding: 1, groups: G, bias: false, seed: 1 });
  console.log(
    `G=${String(G).padStart(3)}: parameters ${fmt(conv.parameterCount()).padStart(8)}  ` +
      `channels per group: ${256 / G}->${256 / G}`.padEnd(32) +
      `kernel: [${conv.weight.shape.join(', ')}]`,
  );
}

console.log('\n=== Groups: Conv2d(64, 128, 3, bias=False) ===');
for (const G of [1, 2, 4, 8, 16, 32, 64]) {
  const conv = new Conv2d({ inChannels: 64, outChannels: 128, kernelSize: 3, padding: 1, groups: G, bias: false, seed: 1 });
  console.log(`groups=${String(G).padStart(2)}: params=${fmt(conv.parameterCount())}`);
}

console.log('\n=== ResNet Bottleneck vs ResNeXt Block ===');
const conv = (inChannels: number, outChannels: number, kernelSize: number, groups = 1) =>
  new Conv2d({ inChannels, outChannels, kernelSize, padding: kernelSize === 3 ? 1 : 0, groups, bias: false, seed: 1 });
// ResNet-50 bottleneck: 256 -> 64 -> 64 -> 256
const resnetBlock = new Sequential(conv(256, 64, 1), conv(64, 64, 3), conv(64, 256, 1));
// ResNeXt-50 (32x4d): 256 -> 128 -> 128 (G=32) -> 256
const resnextBlock = new Sequential(conv(256, 128, 1), conv(128, 128, 3, 32), conv(128, 256, 1));
const pResnet = resnetBlock.parameterCount();
const pResnext = resnextBlock.parameterCount();
console.log(`ResNet Bottleneck:  ${fmt(pResnet).padStart(8)} parameters`);
console.log(`ResNeXt (32x4d):    ${fmt(pResnext).padStart(8)} parameters`);
console.log(`Difference: ${fmt(Math.abs(pResnet - pResnext))}`);

console.log('\n=== Channel Shuffle ===');
const x = tensor([0, 1, 2, 3, 4, 5, 6, 7], [1, 8, 1, 1]);
console.log(`input channels: [${[...x.data].join(', ')}]`);
for (const G of [2, 4]) console.log(`Shuffle(G=${G}):   [${[...new ChannelShuffle(G).forward(x).data].join(', ')}]`);
