// `groupconv bench`: parse, run the sweep on the engine, print and write the reports.
import { writeFileSync } from 'node:fs';
import { BENCH_USAGE, parseBenchArgs, type BenchConfig } from '../args.js';
import { runBench } from '../bench.js';
import { runModelBench } from '../model-bench.js';
import { progressFor } from '../progress.js';
import { toCsv } from '../report/csv.js';
import { toJson } from '../report/json.js';
import { toSvg } from '../report/svg.js';
import { formatReport } from '../report/table.js';
import { checkWritable, type CliIO, type Command } from './command.js';

export const benchCommand: Command = {
  name: 'bench',
  summary: 'time a grouped convolution, or a whole ONNX model, at several worker counts (the default job)',
  usage: BENCH_USAGE,
  async run(argv: readonly string[], io: CliIO): Promise<number> {
    const parsed = parseBenchArgs(argv);
    if (parsed.help) {
      io.stdout.write(BENCH_USAGE);
      return 0;
    }
    const config: BenchConfig = parsed.config;
    // Refuse an unwritable output before a long run, not after it.
    if (config.json) checkWritable('--json', config.json);
    if (config.csv) checkWritable('--csv', config.csv);
    if (config.chart) checkWritable('--chart', config.chart);

    const progress = progressFor(io.stderr);
    const report = config.model !== null ? await runModelBench({ ...config, model: config.model }, progress) : await runBench(config, progress);
    io.stdout.write(formatReport(report));
    const outputs: Array<[string | null, () => string]> = [
      [config.json, () => toJson(report)],
      [config.csv, () => toCsv(report)],
      [config.chart, () => toSvg(report)],
    ];
    for (const [path, render] of outputs) {
      if (!path) continue;
      writeFileSync(path, render());
      io.stderr.write(`wrote ${path}\n`);
    }
    return 0;
  },
};
