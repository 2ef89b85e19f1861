// Running a model on ModelDevices in a test: create, one forward, close.
import { ModelDevices, type ModelDevicesOptions } from '../../src/devices/model-devices.js';
import type { ModelSource } from '../../src/devices/model-source.js';
import type { Tensor } from '../../src/index.js';

/** Runs `x` on devices of `source` and closes them. */
export async function onDevices(source: ModelSource, options: ModelDevicesOptions, x: Tensor) {
  const devices = await ModelDevices.create(source, { batch: x.shape[0], ...options });
  try {
    return { ...(await devices.forward(x)), plan: devices.plan, stageRanges: devices.stageRanges };
  } finally {
    await devices.close();
  }
}
