// A script that forgot engine.close() still exits by itself once its work is
// done: idle workers do not keep Node.js alive, and parked runners hand their
// workers back to the pool after a short idle time.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('engine exit', () => {
  it('a script that never closes its engine exits by itself with right results', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/forgot-close.ts'], {
      cwd: root,
      encoding: 'utf8',
      // Only a guard against a hang (the script takes a few seconds): the test fails if it is reached.
      timeout: 60_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(result.error).toBeUndefined();
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('right');
    expect(result.status).toBe(0);
  });
});
