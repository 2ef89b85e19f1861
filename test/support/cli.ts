// Running the groupconv CLI from the tests: in this process through main()
// with captured output (fast; what most CLI tests need), or as a real child
// process (what the end-to-end tests need: the entry point, exit codes, files).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `groupconv ...argv` through main(), its output captured. */
export async function runCli(...argv: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s), isTTY: false } };
  const code = await main(argv, io as never);
  return { code, stdout, stderr };
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `groupconv ...argv` as a child process from the sources (through tsx), as a user runs it. */
export function spawnCli(...argv: string[]): CliResult {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...argv], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
