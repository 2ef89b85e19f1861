// The golden PyTorch suite through the engine, at 1, 2 and 3 workers under both
// policies, and at 2 workers with Winograd wherever it applies (plans are made
// on this thread, so the choice reaches the workers in the plan).
import { afterAll } from 'vitest';
import { GroupedConvEngine } from '../src/index.js';
import { configureKernels } from '../src/kernels/options.js';
import type { PartitionPolicy } from '../src/index.js';
import { goldenConvSuite } from './support/conv-suite.js';

const engines: GroupedConvEngine[] = [];
afterAll(() => Promise.all(engines.map((e) => e.close())));

for (const workers of [1, 2, 3]) {
  for (const policy of ['group', 'balanced'] as PartitionPolicy[]) {
    const engine = new GroupedConvEngine({ workers, policy });
    engines.push(engine);
    goldenConvSuite(`engine, ${workers} worker(s), policy '${policy}'`, (input, weight, bias, options) => engine.conv2d(input, weight, bias, options));
  }
}

const winogradEngine = new GroupedConvEngine({ workers: 2, policy: 'balanced' });
engines.push(winogradEngine);
goldenConvSuite("engine, 2 workers, policy 'balanced', Winograd wherever it applies", async (input, weight, bias, options) => {
  const previous = configureKernels({ winogradMinChannels: 1 });
  try {
    return await winogradEngine.conv2d(input, weight, bias, options);
  } finally {
    configureKernels(previous);
  }
});
