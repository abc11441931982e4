import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// make-passwd.sh refuses user names the ACL's %u patterns could turn into wildcards or
// other lockers' subtrees, and changes nothing when any line is bad.

const script = join(import.meta.dirname, 'make-passwd.sh');
const hasPasswd = spawnSync('sh', ['-c', 'command -v mosquitto_passwd']).status === 0;

function run(file: string, input: string): { status: number | null; stderr: string } {
  const r = spawnSync('sh', [script, file], { input, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('make-passwd.sh', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'make-passwd-'));
    file = join(dir, 'passwd');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['locker/b', 'locker-+', 'lockers/#', '#', '+', ' leading-blank', 'locker\\x', 'löcker', 'locker;rm', 'x'.repeat(65)])('refuses the user name %j with a clear error and writes nothing', (user) => {
    const r = run(file, `locker-ok pw-ok-1\n${user} pw-bad\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/line 2: (invalid username|username longer than 64)/);
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a line without a password', () => {
    const r = run(file, 'locker-a\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("no password for 'locker-a'");
    expect(existsSync(file)).toBe(false);
  });

  it.skipIf(!hasPasswd)('hashes valid users into the file and leaves an existing file untouched when a later line is bad', () => {
    expect(run(file, 'locker-0001 pw one\nbackend pw-2\nLocker_2.x pw-3\n').status).toBe(0);
    const written = readFileSync(file, 'utf8');
    expect(written.split('\n').filter(Boolean).map((l) => l.split(':')[0])).toEqual(['locker-0001', 'backend', 'Locker_2.x']);
    expect(written).not.toContain('pw one');
    expect(run(file, 'locker-0002 pw\nlocker/# pw\n').status).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe(written);
  });

  it('prints usage without a file argument', () => {
    const r = spawnSync('sh', [script], { input: '', encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage');
  });
});
