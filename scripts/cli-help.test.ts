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

  it.each([
    ['sh', 'device/deploy/update.sh'],
    ['bash', 'device/deploy/install.sh'],
  ])('%s %s --help prints its usage and exits 0', (shell, command) => {
    const run = spawnSync(shell, [join(root, command), '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^usage: /);
  });

  it('device/deploy/install.sh takes --help for help wherever it stands, not for the value of --config', () => {
    // A root that does not exist: should --help be taken for the config, the install stops
    // at once instead of creating the locker user on the machine running the test.
    const run = spawnSync('bash', [join(root, 'device/deploy/install.sh'), '--root', '/nonexistent/locker-root', '--config', '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^usage: install\.sh /);
  });
});
