// The golden conv2d suite, written once and run against every backend
// (tfjs style): a backend is anything that turns conv2d's arguments into a tensor.
// What the golden set holds is checked once, in golden-data.test.ts.
import { describe, expect, it } from 'vitest';
import type { Conv2dOptions, Tensor } from '../../src/index.js';
import { convArguments, convCases } from './golden.js';
import { expectTensorClose } from './tolerance.js';

export type ConvBackend = (input: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions) => Tensor | Promise<Tensor>;

export function goldenConvSuite(name: string, backend: ConvBackend): void {
  describe(`golden conv2d: ${name}`, () => {
    for (const c of convCases) {
      if (c.expect_error) {
        it(`${c.id} throws (${c.note})`, async () => {
          const { input, weight, bias, options } = convArguments(c);
          await expect(async () => backend(input, weight, bias, options)).rejects.toMatchObject({ name: 'ArgumentError' });
        });
      } else {
        it(`${c.id}: ${c.note}`, async () => {
          const { input, weight, bias, options, expected } = convArguments(c);
          const inputCopy = input.data.slice();
          const got = await backend(input, weight, bias, options);
          // The case's atol and rtol follow the golden README's rule (goldenTolerance), computed in Python.
          expectTensorClose(got, expected!, { atol: c.atol!, rtol: c.rtol! }, c.id);
          expect(input.data).toEqual(inputCopy); // inputs are never modified
        });
      }
    }
  });
}
