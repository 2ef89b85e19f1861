// One device that runs any model: its thread (device-thread.ts) runs
// workers/model-device-worker, which exposes a ModelDeviceState.
import { DeviceThread } from './device-thread.js';
import type { ModelDeviceState } from './model-device-state.js';

export class ModelDevice extends DeviceThread<ModelDeviceState> {
  constructor(index: number) {
    super(index, 'model-device-worker', 'groupconv-model-device');
  }
}
