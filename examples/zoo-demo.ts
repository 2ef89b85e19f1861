// Shared by the model examples: build, run on random data, then load the
// PyTorch weights of the test fixture and compare with PyTorch's output.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GroupedConvEngine, loadSafetensors, models, numel, Random, type Tensor } from '../src/index.js';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/zoo/', import.meta.url));

export function randomInput(shape: number[], seed = 1): Tensor {
  const random = new Random(seed);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = random.normal();
  return { shape, data };
}

/**
 * Prints the model's size and state_dict names, then runs it on random data of
 * `inputShape`: on this thread, and with its convolutions on a 2-worker GroupedConvEngine.
 */
export async function describeModel(label: string, model: models.ZooModel, inputShape: number[]): Promise<void> {
  const keys = Object.keys(model.stateDict());
  console.log(`${label}`);
  console.log(`  parameters: ${model.parameterCount().toLocaleString('en-US')}`);
  console.log(`  state_dict: ${keys.length} tensors (${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', ...' : ''})`);
  const x = randomInput(inputShape);
  let started = performance.now();
  const y = model.forward(x);
  console.log(`  forward [${inputShape.join(', ')}] -> [${y.shape.join(', ')}] in ${(performance.now() - started).toFixed(0)} ms (one thread)`);
  const engine = new GroupedConvEngine({ workers: 2 });
  try {
    started = performance.now();
    await model.forwardWith(engine, x); // the first call also starts the workers
    const first = performance.now() - started;
    started = performance.now();
    const z = await model.forwardWith(engine, x);
    const identical = z.data.every((v, i) => Object.is(v, y.data[i]));
    console.log(
      `  forwardWith(engine) in ${(performance.now() - started).toFixed(0)} ms (2 workers; first call ${first.toFixed(0)} ms with worker start-up), ` +
        `${identical ? 'identical to' : 'DIFFERENT from'} forward`,
    );
  } finally {
    await engine.close();
  }
}

/**
 * Loads the PyTorch state_dict of a test fixture (made by
 * test/fixtures/zoo/make_fixtures.py) and compares with PyTorch's output.
 */
export function compareWithPyTorch(model: models.ZooModel, fixtureId: string): void {
  model.loadStateDict(loadSafetensors(join(FIXTURES, `${fixtureId}.state.safetensors`)));
  const { input, expected } = loadSafetensors(join(FIXTURES, `${fixtureId}.io.safetensors`));
  const y = model.forward(input);
  let maxErr = 0;
  let maxAbs = 0;
  for (let i = 0; i < y.data.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(y.data[i] - expected.data[i]));
    maxAbs = Math.max(maxAbs, Math.abs(expected.data[i]));
  }
  console.log(`  PyTorch weights (${fixtureId}): [${input.shape.join(', ')}] -> [${y.shape.join(', ')}], max |groupconv - PyTorch| = ${maxErr.toExponential(2)} (output up to ${maxAbs.toFixed(1)})`);
}
