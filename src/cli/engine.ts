// The bench's engine port plugged into the real GroupedConvEngine.
import { GroupedConvEngine } from '../engine/engine.js';
import type { EngineFactory } from './engine-port.js';

export const createEngine: EngineFactory = ({ workers, policy }) => {
  const engine = new GroupedConvEngine({ workers, policy });
  return {
    async warmup() {
      await engine.warmup();
    },
    layer: (weight, bias, options) => engine.layer(weight, bias, options),
    close: () => engine.close(),
  };
};
