import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The crash handler's bound on a hung relay driver is what ends the process: it must not
// rely on something else keeping the event loop alive. Were it unref'd, a process with
// nothing else pending would leave quietly with exit code 0 (an uncaughtException handler
// swallowed the error), without device.crash-exit and without the failure systemd expects.

const child = fileURLToPath(new URL('./exit-on-crash-child.ts', import.meta.url));

describe('exitOnCrash with a relay driver that never answers', () => {
  it('exits 1 after its bound, saying the relays were not confirmed off', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', child], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; relaysOff?: boolean; level?: number });
    expect(lines.map((l) => l.msg)).toEqual(['device.crashed', 'device.crash-exit']);
    expect(lines[1]).toMatchObject({ level: 60, relaysOff: false });
  }, 30_000);
});
