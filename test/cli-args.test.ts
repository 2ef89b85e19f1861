import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../src/errors.js';
import { DEFAULT_MEASURE, defaultWorkerCounts, parseBenchArgs, type BenchConfig } from '../src/cli/args.js';
import { planCases } from '../src/cli/bench.js';

const config = (argv: string[], cores = 2): BenchConfig => {
  const parsed = parseBenchArgs(argv, cores);
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.config;
};

function argumentError(argv: string[]): ArgumentError {
  try {
    parseBenchArgs(argv, 2);
  } catch (error) {
    expect(error).toBeInstanceOf(ArgumentError);
    return error as ArgumentError;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('groupconv bench arguments', () => {
  it('defaults to AlexNet conv2 at groups 1 and 2 on 1 .. cores + 1 workers, balanced', () => {
    const c = config([], 2);
    expect(c.layers.map((l) => l.name)).toEqual(['alexnet-conv2']);
    expect(c.groups).toBeNull();
    expect(planCases(c).cases.map((x) => [x.groups, x.batch])).toEqual([
      [1, 8],
      [2, 8],
    ]);
    expect(c.workers).toEqual([1, 2, 3]);
    expect(config([], 4).workers).toEqual([1, 2, 3, 4, 5]);
    expect(defaultWorkerCounts(1)).toEqual([1, 2]);
    expect(c.policies).toEqual(['balanced']);
    expect(c.measure).toEqual(DEFAULT_MEASURE);
    expect([c.json, c.csv, c.chart]).toEqual([null, null, null]);
  });

  it('parses the sweeps (sorted, de-duplicated workers)', () => {
    const c = config(['--workers', '4,1,2,2', '--groups=1,2,4,8,32', '--policy', 'group,balanced', '--batch', '1,8']);
    expect(c.workers).toEqual([1, 2, 4]);
    expect(c.groups).toEqual([1, 2, 4, 8, 32]);
    expect(c.policies).toEqual(['group', 'balanced']);
    expect(c.batches).toEqual([1, 8]);
  });

  it('takes several presets, and outputs and measurement settings', () => {
    const c = config(['--layer', 'depthwise,dense', '--json', 'r.json', '--csv', 'r.csv', '--chart', 'c.svg', '--warmup', '0', '--min-runs', '3', '--min-time', '250', '--budget', '30']);
    expect(c.layers.map((l) => l.name)).toEqual(['depthwise', 'dense']);
    expect([c.json, c.csv, c.chart]).toEqual(['r.json', 'r.csv', 'c.svg']);
    expect(c.measure).toEqual({ warmupMs: 0, minRuns: 3, minTimeMs: 250, budgetMs: 30_000 });
  });

  it('builds a custom layer from flags, with documented defaults', () => {
    const [layer] = config(['--cin', '4', '--cout', '8', '--size', '6', '--padding', '1']).layers;
    expect(layer).toMatchObject({ name: 'custom', inChannels: 4, outChannels: 8, kernel: 3, stride: 1, padding: 1, dilation: 1, size: 6, batch: 8 });
    const [square] = config(['--cin', '16', '--kernel', '1', '--stride', '2', '--dilation', '1']).layers;
    expect(square).toMatchObject({ inChannels: 16, outChannels: 16, kernel: 1, stride: 2, size: 28 });
  });

  it('lets shape flags override a preset, and renames it', () => {
    const [layer] = config(['--layer', 'dense', '--size', '14']).layers;
    expect(layer).toMatchObject({ name: 'dense*', inChannels: 256, outChannels: 256, size: 14 });
  });

  it('lists groups that do not divide the channels as skipped, with the reason', () => {
    const { cases, skipped } = planCases(config(['--groups', '1,2,3,4,5,32']));
    expect(cases.map((c) => c.groups)).toEqual([1, 2, 4, 32]);
    expect(skipped).toEqual([
      { layer: 'alexnet-conv2', batch: 8, groups: 3, reason: '256 output channels are not divisible by groups=3' },
      { layer: 'alexnet-conv2', batch: 8, groups: 5, reason: '96 input channels are not divisible by groups=5' },
    ]);
  });

  it('recognises --help and -h', () => {
    expect(parseBenchArgs(['--help']).help).toBe(true);
    expect(parseBenchArgs(['-h', '--workers', '1']).help).toBe(true);
  });

  const bad: Array<[string[], string, RegExp]> = [
    [['--workers', '0'], '--workers', /positive integers, got '0'/],
    [['--workers', '1,x'], '--workers', /got 'x' in '1,x'/],
    [['--workers', '1,,2'], '--workers', /comma-separated/],
    [['--groups=-2'], '--groups', /positive integers, got '-2'/],
    [['--groups', '-2'], '--groups', /needs a value \(one starting with '-' is written --groups=VALUE\)/],
    [['--json='], '--json', /needs a value, got an empty string/],
    [['--batch', '2.5'], '--batch', /positive integers/],
    [['--policy', 'fastest'], '--policy', /unknown policy 'fastest' \(known: group, balanced\)/],
    [['--layer', 'vgg'], '--layer', /unknown layer 'vgg' \(presets: alexnet-conv1, /],
    [['--bogus'], '--bogus', /unknown option/],
    [['extra'], 'bench', /unexpected argument 'extra'/],
    [['--json'], '--json', /needs a value/],
    [['--json', '--csv', 'x.csv'], '--json', /needs a value/],
    [['--cout', '8'], '--cin', /custom layer needs --cin/],
    [['--cin', '3', '--kernel', '9', '--size', '4', '--padding', '1'], '--kernel', /larger than the padded input \(6x6\)/],
    [['--cin', '0'], '--cin', /positive integer, got '0'/],
    [['--padding', 'x', '--cin', '2'], '--padding', /non-negative integer/],
    [['--budget', '0'], '--budget', /positive number/],
    [['--min-runs', '0'], '--min-runs', /positive integer/],
    [['--help=yes'], '--help', /takes no value/],
  ];
  for (const [argv, argument, message] of bad) {
    it(`rejects ${argv.join(' ')}`, () => {
      const error = argumentError(argv);
      expect(error.argument.replace(/^--/, '')).toBe(argument.replace(/^--/, ''));
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain('\n');
    });
  }
});
