import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// update.sh against a temporary prefix, with stand-ins for systemctl and npm: a release
// whose process would not become ready (the stand-in's restart fails when the release says
// so) must leave the previous release running.

const script = join(import.meta.dirname, 'update.sh');

describe('update.sh', () => {
  let dir = '';
  let prefix = '';
  let log = '';
  let env: NodeJS.ProcessEnv = {};

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'device-update-'));
    prefix = join(dir, 'opt');
    log = join(dir, 'calls.log');
    mkdirSync(join(dir, 'bin'));
    // systemctl stand-in: `restart` "starts" whatever `current` points to, which fails when
    // that release carries a file named broken (it would never send READY=1).
    writeFileSync(join(dir, 'bin', 'systemctl'), `#!/bin/sh\necho "$*" >> ${log}\ncase "$1" in\n  restart) [ ! -e ${prefix}/current/broken ] ;;\n  is-active) [ ! -e ${prefix}/current/broken ] ;;\nesac\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'bin', 'npm'), `#!/bin/sh\necho "npm $* in $(basename "$PWD")" >> ${log}\nmkdir -p node_modules\n`, { mode: 0o755 });
    env = { ...process.env, SYSTEMCTL: join(dir, 'bin', 'systemctl'), NPM: join(dir, 'bin', 'npm') };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function release(version: string, broken = false): string {
    const stage = join(dir, 'stage', version);
    const root = join(stage, `locker-device-${version}`);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'VERSION'), `${version}\n`);
    writeFileSync(join(root, 'main.js'), '// device\n');
    writeFileSync(join(root, 'package.json'), '{}\n');
    if (broken) writeFileSync(join(root, 'broken'), '');
    const tarball = join(dir, `locker-device-${version}.tar.gz`);
    execFileSync('tar', ['-czf', tarball, '-C', stage, `locker-device-${version}`]);
    return tarball;
  }

  const update = (tarball: string) => spawnSync('sh', [script, tarball, '--prefix', prefix, '--settle', '0'], { env, encoding: 'utf8' });
  const current = (): string => readlinkSync(join(prefix, 'current'));

  it('installs a release beside the running one, builds its modules, then switches over', () => {
    expect(update(release('1.0.0')).status).toBe(0);
    expect(current()).toBe('releases/1.0.0');
    const second = update(release('1.1.0'));
    expect(second.stdout).toContain('now running 1.1.0 (was 1.0.0)');
    expect(current()).toBe('releases/1.1.0');
    expect(existsSync(join(prefix, 'releases', '1.0.0', 'main.js'))).toBe(true);
    const calls = readFileSync(log, 'utf8');
    expect(calls).toContain('npm ci --omit=dev --no-audit --no-fund in locker-device-1.1.0');
    expect(calls.indexOf('npm ci --omit=dev --no-audit --no-fund in locker-device-1.1.0')).toBeLessThan(calls.lastIndexOf('restart locker-device'));
  });

  it('rolls back to the previous release when the new one does not become ready', () => {
    update(release('1.0.0'));
    const bad = update(release('2.0.0', true));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('2.0.0 did not become ready; rolling back');
    expect(current()).toBe('releases/1.0.0');
    expect(existsSync(join(prefix, 'releases', '2.0.0'))).toBe(false);
    // restarted twice: the failed attempt, then the previous release again
    expect(readFileSync(log, 'utf8').match(/^restart locker-device$/gm)).toHaveLength(3);
  });

  it('does nothing for the release already running, and refuses what is not a release', () => {
    const tarball = release('1.0.0');
    update(tarball);
    const again = update(tarball);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('1.0.0 is already the running release');
    writeFileSync(join(dir, 'junk.tar.gz'), 'not a tarball');
    expect(update(join(dir, 'junk.tar.gz')).status).not.toBe(0);
    expect(current()).toBe('releases/1.0.0');
  });

  it('with --no-restart installs and links the release without touching the service (a first install)', () => {
    const result = spawnSync('sh', [script, release('1.0.0'), '--prefix', prefix, '--no-restart'], { env, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(current()).toBe('releases/1.0.0');
    expect(readFileSync(log, 'utf8')).not.toMatch(/^(restart|is-active)/m);
    // The service user must read what root unpacked from a private temporary directory.
    expect(statSync(join(prefix, 'releases', '1.0.0')).mode & 0o777).toBe(0o755);
    expect(statSync(join(prefix, 'releases', '1.0.0', 'main.js')).mode & 0o777).toBe(0o644);
  });

  it('keeps a few older releases for a manual rollback and removes the rest', () => {
    for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0']) update(release(v));
    const kept = execFileSync('ls', [join(prefix, 'releases')], { encoding: 'utf8' }).trim().split('\n');
    expect(kept).toContain('1.4.0');
    expect(kept.length).toBeLessThanOrEqual(3);
  });

  it('keeps the release it replaced after a manual rollback to an old one, the last known good', () => {
    for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0']) expect(update(release(v)).status).toBe(0);
    // 1.2.0 and 1.3.0 misbehaved in the field: the technician went back to 1.1.0 by hand (docs/hardware.md).
    execFileSync('ln', ['-sfn', 'releases/1.1.0', join(prefix, 'current')]);
    expect(update(release('1.4.0')).status).toBe(0);
    const kept = execFileSync('ls', [join(prefix, 'releases')], { encoding: 'utf8' }).trim().split('\n');
    expect(kept).toEqual(expect.arrayContaining(['1.4.0', '1.1.0']));
    expect(kept).toHaveLength(3);
  });
});
