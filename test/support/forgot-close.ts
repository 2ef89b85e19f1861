// A script that uses an engine and never closes it: it must still exit by
// itself (run as a child process by engine.exit.test.ts).
import { GroupedConvEngine, sharedArena, tensor } from '../../src/index.js';
import { singleThreadPlan } from './kernel-run.js';

const engine = new GroupedConvEngine({ workers: 2 });
const spec = {
  input: tensor(Array.from({ length: 2 * 4 * 5 * 5 }, (_, i) => (i % 7) - 3), [2, 4, 5, 5]),
  weight: tensor(Array.from({ length: 8 * 2 * 3 * 3 }, (_, i) => (i % 5) - 2), [8, 2, 3, 3]),
  bias: null,
  options: { groups: 2 },
};
const expected = singleThreadPlan(spec);
const right = (t: { data: Float32Array }) => t.data.every((v, i) => Object.is(v, expected.data[i]));
const results: Array<{ data: Float32Array }> = [await engine.conv2d(spec.input, spec.weight, spec.bias, spec.options)];
// Long enough for the parked runners to hand their workers back: the next call parks them again.
await new Promise((resolve) => setTimeout(resolve, 500));
const layer = engine.layer(spec.weight, spec.bias, spec.options);
results.push(await layer.run(spec.input), await layer.run(spec.input));
// A program run on one worker, which then polls its doorbell before it blocks (PARK_POLL_MS): it still hands its worker back.
const oneWorker = new GroupedConvEngine({ workers: 1 });
const programLayer = oneWorker.layer(spec.weight, spec.bias, spec.options);
const program = oneWorker.program([{ kind: 'conv', label: 'conv', layer: programLayer, inputShape: spec.input.shape, input: 0, output: 1 }], [spec.input.data.length, expected.data.length]);
const buffers = [sharedArena().allocateFloat32(spec.input.data.length), sharedArena().allocateFloat32(expected.data.length)];
buffers[0].set(spec.input.data);
await program.run(buffers);
results.push({ data: buffers[1] });
console.log(results.every(right) ? 'right' : 'wrong');
