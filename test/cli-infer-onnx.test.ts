// `groupconv infer --model FILE.onnx`, driven through the CLI's main(): the
// fixture's PyTorch output, the same bits with --workers, and one line with
// exit code 2 for every bad argument.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSafetensors, saveSafetensors } from '../src/index.js';
import { expectClose, FIXTURES } from './support/onnx.js';
import { firstBitDifference } from './support/tensors.js';
import { runCli } from './support/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'groupconv-infer-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cli = runCli;

describe('groupconv infer --model FILE.onnx', () => {
  for (const id of ['resnext', 'mobilenet_v2']) {
    it(`${id}: writes PyTorch's output as 'output', bitwise the same on the calling thread and on 1 and 2 workers`, async () => {
      const model = join(FIXTURES, `${id}.onnx`);
      const io = join(FIXTURES, `${id}.io.safetensors`);
      const { expected } = loadSafetensors(io);
      const outputs = [];
      for (const workers of [null, '1', '2']) {
        const out = join(tmp, `${id}-${workers ?? 'host'}.safetensors`);
        const r = await cli('infer', '--model', model, '--input', io, '--out', out, ...(workers ? ['--workers', workers] : []));
        expect(r.stderr).toMatch(new RegExp(`^wrote .*: output \\[${expected.shape.join(',')}\\]`));
        expect(r.code).toBe(0);
        const written = loadSafetensors(out);
        expect(Object.keys(written)).toEqual(['output']);
        expectClose(written.output, expected);
        outputs.push(written.output);
      }
      expect(firstBitDifference(outputs[1].data, outputs[0].data)).toBe(-1);
      expect(firstBitDifference(outputs[2].data, outputs[0].data)).toBe(-1);
    });
  }

  const model = join(FIXTURES, 'resnext.onnx');
  const io = join(FIXTURES, 'resnext.io.safetensors');
  const out = join(tmp, 'y.safetensors');
  const noInput = join(tmp, 'no-input.safetensors');
  saveSafetensors(noInput, { x: { shape: [1], data: new Float32Array(1) } });
  const wrongShape = join(tmp, 'wrong-shape.safetensors');
  saveSafetensors(wrongShape, { input: { shape: [1, 3, 8, 8], data: new Float32Array(192) } });
  const corrupt = join(tmp, 'corrupt.onnx');
  writeFileSync(corrupt, readFileSync(model).subarray(0, 5000));
  const bad: Array<[string[], RegExp]> = [
    [['--model', corrupt, '--input', io, '--out', out], /^groupconv infer: .*corrupt\.onnx is truncated or corrupted at byte \d+/],
    [['--model', join(tmp, 'missing.onnx'), '--input', io, '--out', out], /^groupconv infer: --model: file '.*missing\.onnx' does not exist$/],
    [['--model', model, '--input', noInput, '--out', out], /^groupconv infer: --input: .*has no tensor named 'input' \(it has: x\)$/],
    [['--model', model, '--input', wrongShape, '--out', out], /^groupconv infer: --input: .*expects \[1, 3, 32, 32\].*got \[1, 3, 8, 8\]/],
    [['--model', model, '--input', io, '--out', out, '--workers', '0'], /^groupconv infer: --workers: expected a positive integer, got '0'$/],
    [['--model', model, '--input', io, '--out', out, '--devices', '2'], /^groupconv infer: --devices: is for --model alexnet/],
    [['--model', model, '--input', io], /^groupconv infer: --out: is required/],
    [['--model', 'alexnet', '--input', io, '--out', out, '--workers', '2'], /^groupconv infer: --workers: is for an ONNX --model/],
  ];
  for (const [argv, message] of bad) {
    it(`exits 2 with one line: ${argv.filter((a) => a.startsWith('--')).join(' ')} (${message.source.slice(18, 60)})`, async () => {
      const r = await cli('infer', ...argv);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
  }
});
