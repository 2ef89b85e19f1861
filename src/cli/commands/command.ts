// What every subcommand of the `groupconv` CLI is: a name, a one-line summary
// for the top-level help, its own usage text, and a run function returning the
// exit code. main.ts dispatches through a table of these.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errors } from '../../errors.js';
import type { ProgressStream } from '../progress.js';

export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Runs with the arguments after the command's name; resolves to the exit code. Throws ArgumentError for bad arguments. */
  run(argv: readonly string[], io: CliIO): Promise<number>;
}

/** Fails early (exit 2) when `path` cannot be written: missing directory, a directory, or no permission. */
export function checkWritable(flag: string, path: string): void {
  const absolute = resolve(path);
  if (existsSync(absolute)) {
    if (statSync(absolute).isDirectory()) throw errors.badFlag(flag, `'${path}' is a directory`);
    try {
      accessSync(absolute, constants.W_OK);
    } catch {
      throw errors.badFlag(flag, `'${path}' is not writable`);
    }
    return;
  }
  const dir = dirname(absolute);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw errors.badFlag(flag, `directory '${dirname(path)}' does not exist`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw errors.badFlag(flag, `directory '${dirname(path)}' is not writable`);
  }
}
