import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// An operator's first try with a command is `--help`: it must print the usage and exit 0,
// never take --help for an argument (a config path, a key directory) and fail or act.

const root = join(import.meta.dirname, '..');
const commands = ['scripts/keygen.ts', 'backend-sync/scripts/make-api-key.ts', 'backend-sync/scripts/rebuild-tracking.ts', 'device/bringup/main.ts', 'device/main.ts', 'device/backup/main.ts'];

describe('operator commands answer --help', () => {
  it.each(commands)('%s --help prints its usage and exits 0', (command) => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, command), '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, LOCKER_CONFIG: '' } });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^usage: /);
  });

  it('device/deploy/update.sh --help prints its usage and exits 0', () => {
    const run = spawnSync('sh', [join(root, 'device/deploy/update.sh'), '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^usage: /);
  });
});
