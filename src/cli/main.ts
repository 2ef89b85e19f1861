#!/usr/bin/env node
// The `groupconv` command line. Subcommands live in a table: adding one is
// adding a Command (see commands/command.ts) to COMMANDS.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '../errors.js';
import { alexnetCommand } from './commands/alexnet.js';
import { benchCommand } from './commands/bench.js';
import { inferCommand } from './commands/infer.js';
import { splitCommand } from './commands/split.js';
import type { CliIO, Command } from './commands/command.js';

export const COMMANDS: readonly Command[] = [benchCommand, alexnetCommand, inferCommand, splitCommand];

export function topUsage(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: groupconv <command> [options]',
    '',
    'Grouped convolution on worker threads, one channel group per worker.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `groupconv <command> --help` for a command\'s options.',
    '',
  ].join('\n');
}

/** Runs the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIO = process, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(`groupconv: missing command (one of: ${commands.map((c) => c.name).join(', ')}); see groupconv --help\n`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const about = commands.find((c) => c.name === rest[0]);
    io.stdout.write(about ? about.usage : topUsage(commands));
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`groupconv: unknown command '${name}' (one of: ${commands.map((c) => c.name).join(', ')}); see groupconv --help\n`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof ArgumentError) {
      io.stderr.write(`groupconv ${command.name}: ${error.message.split('\n')[0]}\n`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`groupconv ${command.name}: failed: ${message.split('\n')[0]}\n`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    // npm's bin shims are symlinks: compare real paths.
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}
