import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

// install.sh into a temporary root, seeded like a fresh Raspberry Pi OS (dialout exists,
// gpio does not here, to show it is created), with a release tarball shaped like
// `npm run release:device` makes and a stand-in for update.sh's `npm ci`. It must run as
// root (it chowns files); as another user the test skips with a reason.

const script = join(import.meta.dirname, 'install.sh');
const unit = join(import.meta.dirname, 'locker-device.service');
const isRoot = process.getuid?.() === 0;
const hasUseradd = spawnSync('useradd', ['--help'], { stdio: 'ignore' }).status === 0;
if (!isRoot) console.warn('skipping install.sh tests: they must run as root (the script chowns files)');
else if (!hasUseradd) console.warn('skipping install.sh tests: useradd is not installed');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A release tarball in src: locker-device-<version>/{VERSION,main.js,package.json}, and markers for the systemctl stand-in. */
function releaseTarball(src: string, version: string, markers: readonly string[] = []): string {
  const stage = join(src, 'stage', version);
  const dir = join(stage, `locker-device-${version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'VERSION'), `${version}\n`);
  writeFileSync(join(dir, 'main.js'), `console.log("device ${version}")\n`);
  writeFileSync(join(dir, 'package.json'), '{}\n');
  for (const m of markers) writeFileSync(join(dir, m), '');
  const tarball = join(src, `locker-device-${version}.tar.gz`);
  execFileSync('tar', ['-czf', tarball, '-C', stage, `locker-device-${version}`]);
  return tarball;
}

function seedRoot(): { root: string; src: string } {
  const base = mkdtempSync(join(tmpdir(), 'install-root-'));
  dirs.push(base);
  const root = join(base, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\ndialout:x:20:pi\nsudo:x:27:pi\npi:x:1000:\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\npi:*:19000:0:99999:7:::\n');
  writeFileSync(join(root, 'etc/gshadow'), 'root:*::\ndialout:*::pi\nsudo:*::pi\npi:!::\n');
  chmodSync(join(root, 'etc/shadow'), 0o640);
  chmodSync(join(root, 'etc/gshadow'), 0o640);
  const src = join(base, 'src');
  mkdirSync(join(src, 'bin'), { recursive: true });
  // npm ci stand-in: the real one builds native modules for a minute; here a marker will do.
  writeFileSync(join(src, 'bin/npm'), '#!/bin/sh\nmkdir -p node_modules && echo "$*" > node_modules/.npm-args\n', { mode: 0o755 });
  releaseTarball(src, '1.0.0');
  writeFileSync(join(src, 'device.json'), '{"lockerId":"lk-test-1"}\n');
  writeFileSync(join(src, 'pepper'), `${'cd'.repeat(32)}\n`);
  return { root, src };
}

function install(root: string, src: string, version = '1.0.0', env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const args = [script, '--root', root, '--release', join(src, `locker-device-${version}.tar.gz`), '--config', join(src, 'device.json'), '--pepper', join(src, 'pepper')];
  const result = spawnSync('bash', args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NPM: join(src, 'bin/npm'), ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Every path under root with its type, mode, owner and content hash (or link target). */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const head = `${st.mode.toString(8)} ${String(st.uid)}:${String(st.gid)}`;
      if (st.isSymbolicLink()) out.set(relative(root, path), `${head} -> ${readlinkSync(path)}`);
      else if (st.isDirectory()) {
        out.set(relative(root, path), head);
        walk(path);
      } else out.set(relative(root, path), `${head} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
    }
  };
  walk(root);
  return out;
}

/**
 * A systemctl stand-in for a board whose service runs `current`: a release carrying the file
 * crashes sends READY=1 and then crash-loops under Restart=always, so every `show` finds it
 * `activating (auto-restart)` and restarted once more; otherwise it is active and stays up.
 * A manual restart resets NRestarts, as systemd does. Calls go to src/systemctl.log. Like
 * systemd, it runs a release under the unit loaded at the last daemon-reload (src/loaded,
 * seeded from the unit on disk: the board booted with it): each restart goes to src/ran.log
 * as `<current> under <the unit's ExecStart>`.
 */
function fakeSystemctl(root: string, src: string): string {
  const path = join(src, 'bin/systemctl');
  const current = join(root, 'opt/locker-device/current');
  const n = join(src, 'nrestarts');
  const unitFile = join(root, 'etc/systemd/system/locker-device.service');
  const loaded = join(src, 'loaded');
  writeFileSync(n, '7\n');
  if (existsSync(unitFile)) copyFileSync(unitFile, loaded);
  writeFileSync(path, [
    '#!/bin/sh',
    `echo "$*" >> ${join(src, 'systemctl.log')}`,
    'case "$1" in',
    `  daemon-reload) cp ${unitFile} ${loaded} ;;`,
    `  restart) echo 0 > ${n}; echo "$(readlink ${current}) under $(sed -n 's/^ExecStart=//p' ${loaded})" >> ${join(src, 'ran.log')} ;;`,
    '  show)',
    `    count=$(cat ${n})`,
    `    if [ -e ${current}/crashes ]; then`,
    `      count=$((count + 1)); echo $count > ${n}`,
    '      echo ActiveState=activating; echo SubState=auto-restart',
    '    else',
    '      echo ActiveState=active; echo SubState=running',
    '    fi',
    '    echo NRestarts=$count ;;',
    'esac',
    '',
  ].join('\n'), { mode: 0o755 });
  return path;
}

function entry(file: string, name: string): string[] | undefined {
  return readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
}

describe.skipIf(!isRoot || !hasUseradd)('install.sh into a temporary root', () => {
  it('creates the locker user in gpio and dialout only, a 0700 data directory it owns, the config in /etc and the enabled unit', () => {
    const { root, src } = seedRoot();
    const first = install(root, src);
    expect(first.status, first.stderr).toBe(0);

    const user = entry(join(root, 'etc/passwd'), 'locker');
    expect(user?.[6]).toBe('/usr/sbin/nologin');
    const uid = Number(user?.[2]);
    const gid = Number(user?.[3]);
    const memberOf = readFileSync(join(root, 'etc/group'), 'utf8').split('\n').map((l) => l.split(':'))
      .filter((f) => (f[3] ?? '').split(',').includes('locker')).map((f) => f[0]).sort();
    expect(memberOf).toEqual(['dialout', 'gpio']);
    expect(entry(join(root, 'etc/group'), 'dialout')?.[3]).toBe('pi,locker');

    const data = statSync(join(root, 'var/lib/locker'));
    expect(data.mode & 0o777).toBe(0o700);
    expect([data.uid, data.gid]).toEqual([uid, gid]);
    const pepper = statSync(join(root, 'etc/locker/code-pepper'));
    expect(pepper.mode & 0o777).toBe(0o400);
    expect(pepper.uid).toBe(uid);
    const config = statSync(join(root, 'etc/locker/device.json'));
    expect([config.mode & 0o777, config.uid, config.gid]).toEqual([0o640, 0, gid]);
    expect(readFileSync(join(root, 'etc/systemd/system/locker-device.service'), 'utf8')).toBe(readFileSync(unit, 'utf8'));
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/locker-device.service'))).toBe('/etc/systemd/system/locker-device.service');
    // The release layout the unit and update.sh share: releases/<version> + current.
    expect(readlinkSync(join(root, 'opt/locker-device/current'))).toBe('releases/1.0.0');
    expect(readFileSync(join(root, 'opt/locker-device/current/main.js'), 'utf8')).toContain('device 1.0.0');
    expect(readFileSync(join(root, 'opt/locker-device/current/node_modules/.npm-args'), 'utf8')).toContain('ci --omit=dev');
    const app = statSync(join(root, 'opt/locker-device/current/main.js'));
    expect([app.mode & 0o777, app.uid]).toEqual([0o644, 0]);
  });

  it('installs a newer release beside the first and switches current to it, keeping the first for a rollback', () => {
    const { root, src } = seedRoot();
    expect(install(root, src).status).toBe(0);
    releaseTarball(src, '1.1.0');
    const second = install(root, src, '1.1.0');
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('changed: release /opt/locker-device/releases/1.1.0');
    expect(readlinkSync(join(root, 'opt/locker-device/current'))).toBe('releases/1.1.0');
    expect(readFileSync(join(root, 'opt/locker-device/releases/1.0.0/main.js'), 'utf8')).toContain('device 1.0.0');
  });

  it('takes a crash-looping service for a started one: the new release goes in through a restart and a settle check, a crash loop is rolled back and reported', () => {
    const { root, src } = seedRoot();
    // 1.0.0 crash-loops on the board: `activating (auto-restart)`, not `active`.
    releaseTarball(src, '1.0.0', ['crashes']);
    expect(install(root, src).status).toBe(0);
    const env = { SYSTEMCTL: fakeSystemctl(root, src), LOCKER_SETTLE: '0' };
    releaseTarball(src, '1.1.0', ['crashes']);
    const bad = install(root, src, '1.1.0', env);
    expect(bad.stdout).toContain('note: locker-device.service is activating (auto-restart, restarted 8 times by systemd): the release goes in through a restart and a settle check');
    expect(bad.stderr).toContain('update: 1.1.0 did not stay up (ActiveState=activating SubState=auto-restart, NRestarts 1 -> 2 over 0 s): a crash loop; rolling back');
    expect(bad.stderr).toContain('install.sh: the release was not installed: update.sh failed (above); /opt/locker-device/current is releases/1.0.0');
    expect(bad.status).toBe(1);
    expect(readlinkSync(join(root, 'opt/locker-device/current'))).toBe('releases/1.0.0');
    expect(readdirSync(join(root, 'opt/locker-device/releases'))).toEqual(['1.0.0']);

    // A release that stays up replaces it.
    releaseTarball(src, '1.2.0');
    const good = install(root, src, '1.2.0', env);
    expect(good.status, good.stderr).toBe(0);
    expect(good.stdout).toContain('update: now running 1.2.0 (was 1.0.0)');
    expect(readlinkSync(join(root, 'opt/locker-device/current'))).toBe('releases/1.2.0');
    expect(readFileSync(join(src, 'systemctl.log'), 'utf8').match(/^restart locker-device$/gm)).toHaveLength(3);
  });

  it('puts a changed unit in place before the restart that checks the new release, and a rollback puts the previous unit back', () => {
    const { root, src } = seedRoot();
    expect(install(root, src).status).toBe(0);
    // The board runs 1.0.0 under an older unit: another ExecStart (here the flat layout's).
    const unitFile = join(root, 'etc/systemd/system/locker-device.service');
    const oldUnit = readFileSync(unit, 'utf8').replace('/opt/locker-device/current/main.js', '/opt/locker-device/main.js');
    writeFileSync(unitFile, oldUnit);
    const env = { SYSTEMCTL: fakeSystemctl(root, src), LOCKER_SETTLE: '0' };
    const newExec = /^ExecStart=(.*)$/m.exec(readFileSync(unit, 'utf8'))?.[1] ?? '';
    const oldExec = /^ExecStart=(.*)$/m.exec(oldUnit)?.[1] ?? '';
    const ran = (): string[] => readFileSync(join(src, 'ran.log'), 'utf8').trim().split('\n');

    releaseTarball(src, '1.1.0', ['crashes']);
    const bad = install(root, src, '1.1.0', env);
    expect(bad.status).toBe(1);
    // Checked under its own unit; the rollback under the one 1.0.0 ran under.
    expect(ran()).toEqual([`releases/1.1.0 under ${newExec}`, `releases/1.0.0 under ${oldExec}`]);
    expect(readFileSync(unitFile, 'utf8')).toBe(oldUnit);
    expect(readdirSync(join(root, 'etc/systemd/system')).sort()).toEqual(['locker-device.service', 'multi-user.target.wants']);

    releaseTarball(src, '1.2.0');
    const good = install(root, src, '1.2.0', env);
    expect(good.status, good.stderr).toBe(0);
    expect(ran().at(-1)).toBe(`releases/1.2.0 under ${newExec}`);
    expect(readFileSync(unitFile, 'utf8')).toBe(readFileSync(unit, 'utf8'));
    expect(good.stdout).toContain('changed: file /etc/systemd/system/locker-device.service (updated before the restart)');
    // update.sh restarted and checked it: no second, unchecked restart asked for.
    expect(good.stdout).not.toContain('start with: systemctl restart');
    expect(good.stdout.trimEnd().split('\n').at(-1)).toMatch(/^\d+ change\(s\); locker-device\.service already restarted on releases\/1\.2\.0 by update\.sh \(above\), nothing to start$/);
    const calls = readFileSync(join(src, 'systemctl.log'), 'utf8');
    expect(calls.lastIndexOf('daemon-reload')).toBeLessThan(calls.lastIndexOf('restart locker-device'));
  });

  it('refuses a LOCKER_SETTLE that is not a whole number of seconds before creating anything', () => {
    const { root, src } = seedRoot();
    const result = install(root, src, '1.0.0', { LOCKER_SETTLE: '.' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("install.sh: LOCKER_SETTLE needs a whole number of seconds, 0 or more, not '.'");
    expect(readdirSync(root)).toEqual(['etc']);
    expect(entry(join(root, 'etc/passwd'), 'locker')).toBeUndefined();
  });

  it('installs without a restart where the service is stopped', () => {
    const { root, src } = seedRoot();
    expect(install(root, src).status).toBe(0);
    const systemctl = fakeSystemctl(root, src);
    writeFileSync(systemctl, `#!/bin/sh\necho "$*" >> ${join(src, 'systemctl.log')}\n[ "$1" != show ] || printf 'ActiveState=inactive\\nSubState=dead\\nNRestarts=0\\n'\n`);
    releaseTarball(src, '1.1.0');
    const result = install(root, src, '1.1.0', { SYSTEMCTL: systemctl });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('update: installed 1.1.0 (was 1.0.0); the service was not restarted');
    const calls = readFileSync(join(src, 'systemctl.log'), 'utf8');
    expect(calls).toMatch(/^show -p ActiveState,SubState,NRestarts locker-device.service$/m);
    expect(calls).not.toMatch(/^restart/m);
    // Not restarted: the operator is told to.
    expect(result.stdout).toContain('start with: systemctl restart locker-device.service');
  });

  it('moves a board installed flat by an earlier install.sh onto the release layout', () => {
    const { root, src } = seedRoot();
    mkdirSync(join(root, 'opt/locker-device/node_modules'), { recursive: true });
    writeFileSync(join(root, 'opt/locker-device/main.js'), 'console.log("flat")\n');
    const result = install(root, src);
    expect(result.status, result.stderr).toBe(0);
    expect(readdirSync(join(root, 'opt/locker-device')).sort()).toEqual(['current', 'releases']);
    expect(readFileSync(join(root, 'opt/locker-device/current/main.js'), 'utf8')).toContain('device 1.0.0');
  });

  it('changes nothing on a second run, and never overwrites a config the operator edited', () => {
    const { root, src } = seedRoot();
    expect(install(root, src).status).toBe(0);
    writeFileSync(join(root, 'etc/locker/device.json'), '{"lockerId":"lk-test-1","edited":true}\n');
    const before = snapshot(root);
    const second = install(root, src);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('nothing to change');
    expect(snapshot(root)).toEqual(before);
  });

  it('repairs drift: a data directory opened up to 0755 and a user added to sudo are put back', () => {
    const { root, src } = seedRoot();
    expect(install(root, src).status).toBe(0);
    chmodSync(join(root, 'var/lib/locker'), 0o755);
    const group = readFileSync(join(root, 'etc/group'), 'utf8').replace('sudo:x:27:pi', 'sudo:x:27:pi,locker');
    writeFileSync(join(root, 'etc/group'), group);
    const again = install(root, src);
    expect(again.status, again.stderr).toBe(0);
    expect(statSync(join(root, 'var/lib/locker')).mode & 0o777).toBe(0o700);
    expect(entry(join(root, 'etc/group'), 'sudo')?.[3]).toBe('pi');
  });
});
