// What the golden PyTorch set holds, checked once here rather than by every
// backend the suite runs against.
import { describe, expect, it } from 'vitest';
import { convCases } from './support/golden.js';

describe('the golden set', () => {
  it('has the 63 conv2d cases (13 of them errors)', () => {
    expect(convCases.length).toBe(63);
    expect(convCases.filter((c) => c.expect_error).length).toBe(13);
  });
});
