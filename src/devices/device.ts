// A device of the AlexNet split: its thread (device-thread.ts) runs
// workers/device-worker, which exposes a DeviceState.
import { DeviceThread } from './device-thread.js';
import type { DeviceState } from './device-state.js';

export class Device extends DeviceThread<DeviceState> {
  constructor(index: number) {
    super(index, 'device-worker', 'groupconv-device');
  }
}
