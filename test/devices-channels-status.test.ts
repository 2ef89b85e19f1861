// A channels split's status words (src/devices/model-devices.ts): each device
// writes the node it starts into a word the host reads when the device fails,
// and the host names that node only if it lies in the failing segment. A word
// left from an earlier pass must not name a node the failing pass never
// reached: a device that fails before starting any node of a segment is
// charged with the segment's first node.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExecutionError } from '../src/index.js';
import { ModelDevices } from '../src/devices/model-devices.js';
import { randomInput } from '../src/devices/run-model.js';
import { FIXTURES } from './support/onnx.js';

describe('channels status words', () => {
  it('a device failing before the first node of a segment names that node, not where the previous pass ended', async () => {
    const split = await ModelDevices.create({ kind: 'onnx', path: join(FIXTURES, 'resnext.onnx') }, { devices: 2, strategy: 'channels', batch: 1 });
    try {
      const x = randomInput([1, 3, 32, 32], 3);
      await split.forward(x);
      const inside = split as unknown as { channelSegments: [number, number][]; channelStatus: Int32Array[] };
      const n = split.plan.layers.length;
      const segments = inside.channelSegments;
      expect(segments.length).toBeGreaterThan(1);
      const from = segments[0][0];
      // After a whole pass each device's word holds the last node.
      inside.channelStatus.forEach((status) => expect(Atomics.load(status, 0)).toBe(n - 1));
      // The first segment stretched past the last node (so it spans the word's stale value): each device refuses the call before it starts any node.
      segments[0] = [from, n + 1];
      const error = await split.forward(x).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExecutionError);
      const label = split.plan.layers[from].label.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      expect((error as Error).message).toMatch(new RegExp(`^the forward pass failed on device \\d at ${label} \\(layer ${from + 1} of ${n}\\): .*no nodes \\[${from}, ${n + 1}\\)`));
    } finally {
      await split.close();
    }
  });
});
