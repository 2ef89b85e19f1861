// A first look at groupconv: AlexNet's conv2 with groups 1 and 2, parameter
// counts, and the convolution itself on a small batch.
import { Conv2d, conv2d, channelShuffle, tensor, Random, zeros } from '../src/index.js';

for (const groups of [1, 2]) {
  const layer = new Conv2d({ inChannels: 96, outChannels: 256, kernelSize: 5, padding: 2, groups, bias: false, seed: 1 });
  const input = [1, 96, 27, 27];
  console.log(
    `AlexNet conv2, groups=${groups}: weight [${layer.weight.shape}], ${layer.parameterCount().toLocaleString('en-US')} parameters, ` +
      `${(layer.flops(input) / 1e9).toFixed(3)} GFLOP per image, output [${layer.outputShape(input)}]`,
  );
}

const random = new Random(7);
const x = zeros([2, 4, 6, 6]);
for (let i = 0; i < x.data.length; i++) x.data[i] = random.normal();
const w = zeros([8, 2, 3, 3]);
for (let i = 0; i < w.data.length; i++) w.data[i] = random.normal() / 4;
const y = conv2d(x, w, null, { padding: 1, groups: 2 });
console.log(`conv2d([2, 4, 6, 6], [8, 2, 3, 3], groups=2, padding=1) -> [${y.shape}]`);

const shuffled = channelShuffle(tensor([0, 1, 2, 3, 4, 5, 6, 7], [1, 8, 1, 1]), 2);
console.log(`channelShuffle(arange(8), 2) -> [${[...shuffled.data]}]`);
