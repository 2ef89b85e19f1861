// The golden PyTorch suite through the engine, at 1, 2 and 3 workers under both policies.
import { afterAll } from 'vitest';
import { GroupedConvEngine } from '../src/index.js';
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
