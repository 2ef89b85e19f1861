// Random tensors in shared memory, so that no engine call copies its input.
import { Random, zeros, type Tensor } from '../../src/index.js';

/**
 * A shared tensor of normal values times `scale`, drawn from `random` in order.
 * `allocate` is the zeros of the groupconv checkout that should own the memory
 * (an A/B run gives each side its own arena).
 */
export function randomShared(random: Random, shape: readonly number[], scale: number, allocate: typeof zeros = zeros): Tensor {
  const t = allocate([...shape], { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = random.normal() * scale;
  return t;
}
