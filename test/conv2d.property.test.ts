import { describe, expect, it } from 'vitest';
import { conv2d, Random } from '../src/index.js';
import { naiveConv2d } from './support/naive-conv.js';
import { ORACLE_CONVS, randomConv } from './support/random-conv.js';
import { goldenTolerance, worstViolation } from './support/tolerance.js';

describe('conv2d against an independent 7-loop oracle', () => {
  it('agrees on 400 random valid specifications', () => {
    const random = new Random(20261123);
    for (let i = 0; i < 400; i++) {
      const c = randomConv(random, ORACLE_CONVS);
      const got = conv2d(c.input, c.weight, c.bias, c.options);
      const expected = naiveConv2d(c.input, c.weight, c.bias, c.naive);
      expect(got.shape, c.description).toEqual(expected.shape);
      expect(worstViolation(got.data, expected.data, goldenTolerance(c.input, c.weight)), c.description).toBeNull();
    }
  });

  it('the oracle itself catches a misplaced term (a wrong padding side)', () => {
    const random = new Random(5);
    let caught = 0;
    for (let i = 0; i < 50; i++) {
      const c = randomConv(random, ORACLE_CONVS);
      const [t, b, l, r] = c.naive.padding;
      if (t === b && l === r) continue;
      const swapped = naiveConv2d(c.input, c.weight, c.bias, { ...c.naive, padding: [b, t, r, l] });
      const got = conv2d(c.input, c.weight, c.bias, c.options);
      if (swapped.shape.join() === got.shape.join() && worstViolation(got.data, swapped.data, goldenTolerance(c.input, c.weight))) caught++;
    }
    expect(caught).toBeGreaterThan(0);
  });
});
