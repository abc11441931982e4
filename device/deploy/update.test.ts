import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// update.sh against a temporary prefix, with stand-ins for systemctl, npm and a release's
// backup.js: a release whose process would not become ready (the stand-in's restart fails
// when the release says so) must leave the previous release running. The real backup.js is
// tested in device/backup and, built into a release, in scripts/release-device.test.ts.

const script = join(import.meta.dirname, 'update.sh');

describe('update.sh', () => {
  let dir = '';
  let prefix = '';
  let log = '';
  let env: NodeJS.ProcessEnv = {};
  let config = '';
  let data = '';
  let db = '';

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'device-update-'));
    prefix = join(dir, 'opt');
    log = join(dir, 'calls.log');
    mkdirSync(join(dir, 'bin'));
    fakeSystemctl();
    writeFileSync(join(dir, 'bin', 'npm'), `#!/bin/sh\necho "npm $* in $(basename "$PWD")" >> ${log}\nmkdir -p node_modules\n`, { mode: 0o755 });
    // backup.js stand-in: logs its arguments, where `current` points and which release it
    // belongs to (by=), prints dbPath or
    // copies the database, and fails when its release carries backup-fails.
    writeFileSync(join(dir, 'bin', 'backup.js'), [
      "const fs = require('node:fs');",
      "const path = require('node:path');",
      'const args = process.argv.slice(2);',
      `fs.appendFileSync(${JSON.stringify(log)}, \`backup \${args.join(' ')} current=\${fs.readlinkSync(${JSON.stringify(join(prefix, 'current'))})} by=\${path.basename(__dirname)}\\n\`);`,
      "const { dbPath } = JSON.parse(fs.readFileSync(args[args.indexOf('--config') + 1], 'utf8'));",
      "if (args.includes('--print-db-path')) { console.log(dbPath); process.exit(0); }",
      "if (fs.existsSync(path.join(__dirname, 'backup-fails'))) { console.error('backup failed: DB_CORRUPT: file is not a locker device database'); process.exit(1); }",
      "fs.copyFileSync(dbPath, args[args.indexOf('--out') + 1]);",
      '',
    ].join('\n'));
    env = { ...process.env, SYSTEMCTL: join(dir, 'bin', 'systemctl'), NPM: join(dir, 'bin', 'npm'), NODE: process.execPath, LOCKER_CONFIG: join(dir, 'device.json') };
    data = join(dir, 'var-lib-locker');
    db = join(data, 'locker.db');
    config = join(dir, 'device.json');
    writeFileSync(config, JSON.stringify({ dbPath: db }));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** backup: the release ships backup.js (a working or a failing one), or predates it; late: a marker for an onRestart. */
  function release(version: string, o: { broken?: boolean; crashes?: 'active' | 'auto-restart'; backup?: 'works' | 'fails'; late?: boolean } = {}): string {
    const stage = join(dir, 'stage', version);
    const root = join(stage, `locker-device-${version}`);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'VERSION'), `${version}\n`);
    writeFileSync(join(root, 'main.js'), '// device\n');
    writeFileSync(join(root, 'package.json'), '{}\n');
    if (o.broken === true) writeFileSync(join(root, 'broken'), '');
    if (o.late === true) writeFileSync(join(root, 'late'), '');
    if (o.crashes !== undefined) writeFileSync(join(root, 'crashes'), o.crashes);
    if (o.backup !== undefined) copyFileSync(join(dir, 'bin', 'backup.js'), join(root, 'backup.js'));
    if (o.backup === 'fails') writeFileSync(join(root, 'backup-fails'), '');
    const tarball = join(dir, `locker-device-${version}.tar.gz`);
    execFileSync('tar', ['-czf', tarball, '-C', stage, `locker-device-${version}`]);
    return tarball;
  }

  const update = (tarball: string, ...more: string[]) => spawnSync('sh', [script, tarball, '--prefix', prefix, '--settle', '0', ...more], { env, encoding: 'utf8' });
  /** The service's database, as the running release left it. */
  const database = (content: string): void => {
    mkdirSync(data, { recursive: true });
    writeFileSync(db, content);
  };
  const current = (): string => readlinkSync(join(prefix, 'current'));

  /**
   * systemctl stand-in: `restart` "starts" whatever `current` points to, which fails when
   * that release carries a file named broken (it would never send READY=1), and fails for
   * every release once ${dir}/refused exists: the previous release refusing the database the
   * failed one migrated (DB_MIGRATION). A release carrying crashes sends READY=1 and then
   * crash-loops under Restart=always: each `show` finds it restarted once more (NRestarts),
   * and active or `activating (auto-restart)` as the file says; `is-active` at that instant
   * says active. onRestart runs (sh) before a restart does. Like systemd, it runs a release
   * under the unit loaded at the last daemon-reload (from ${dir}/systemd, the --unit-dir):
   * each restart goes to ran.log as `<current> under <the unit's ExecStart>`.
   */
  function fakeSystemctl(onRestart = ''): void {
    const c = join(prefix, 'current');
    const n = join(dir, 'nrestarts');
    const loaded = join(dir, 'loaded.service');
    writeFileSync(join(dir, 'bin', 'systemctl'), [
      '#!/bin/sh',
      `echo "$*" >> ${log}`,
      'case "$1" in',
      `  daemon-reload) cp ${join(dir, 'systemd', 'locker-device.service')} ${loaded} 2>/dev/null || rm -f ${loaded} ;;`,
      `  restart) ${onRestart || ':'}; echo 0 > ${n}; echo "$(readlink ${c}) under $(sed -n 's/^ExecStart=//p' ${loaded} 2>/dev/null)" >> ${join(dir, 'ran.log')}; [ ! -e ${c}/broken ] && [ ! -e ${dir}/refused ] ;;`,
      `  is-active) [ ! -e ${c}/broken ] ;;`,
      '  show)',
      `    count=$(cat ${n} 2>/dev/null || echo 0)`,
      `    if [ -e ${c}/crashes ]; then count=$((count + 1)); echo $count > ${n}; fi`,
      `    case "$(cat ${c}/crashes 2>/dev/null)" in auto-restart) echo ActiveState=activating; echo SubState=auto-restart ;; *) echo ActiveState=active; echo SubState=running ;; esac`,
      '    echo NRestarts=$count ;;',
      'esac',
      '',
    ].join('\n'), { mode: 0o755 });
  }

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
    const bad = update(release('2.0.0', { broken: true }));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('2.0.0 did not become ready; rolling back');
    expect(current()).toBe('releases/1.0.0');
    expect(existsSync(join(prefix, 'releases', '2.0.0'))).toBe(false);
    // restarted twice: the failed attempt, then the previous release again
    expect(readFileSync(log, 'utf8').match(/^restart locker-device$/gm)).toHaveLength(3);
  });

  it('with no previous release to go back to, stops the service on a failed first start, with `current` unlinked', () => {
    // A board whose service was started with no release yet (or a flat app): nothing known
    // good. Left as it is, systemd would restart the failed release (or a missing main.js)
    // forever under Restart=always.
    const bad = update(release('1.0.0', { crashes: 'auto-restart' }));
    expect(bad.status).toBe(1);
    expect(existsSync(join(prefix, 'current'))).toBe(false);
    expect(existsSync(join(prefix, 'releases', '1.0.0'))).toBe(false);
    const calls = readFileSync(log, 'utf8');
    expect(calls).toMatch(/^stop locker-device$/m);
    expect(calls.lastIndexOf('stop locker-device')).toBeGreaterThan(calls.lastIndexOf('restart locker-device'));
    expect(bad.stderr).toContain('update: no previous release to go back to: locker-device stopped');
  });

  it('still rolls back when the SSH session drops while the new release starts', () => {
    update(release('1.0.0'));
    // The session hangs up during the restart of the new release: update.sh gets SIGHUP and
    // its terminal is gone (every write fails, as /dev/full makes it).
    fakeSystemctl(`[ -e ${prefix}/current/broken ] && kill -HUP $PPID`);
    const gone = openSync('/dev/full', 'w');
    try {
      const result = spawnSync('sh', [script, release('2.0.0', { broken: true }), '--prefix', prefix, '--settle', '0', '--no-backup'], { env, stdio: ['ignore', gone, gone] });
      expect(result.signal).toBeNull();
      expect(result.status).toBe(1);
    } finally {
      closeSync(gone);
    }
    expect(current()).toBe('releases/1.0.0');
    expect(existsSync(join(prefix, 'releases', '2.0.0'))).toBe(false);
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
    expect(readFileSync(log, 'utf8')).not.toMatch(/^(restart|is-active|backup)/m);
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
  it('knows the running release however `current` was linked by hand: absolute, or with a trailing slash', () => {
    expect(update(release('1.0.0', { backup: 'works' })).status).toBe(0);
    database('records of 1.0.0');
    // A file of the running release: it must survive whatever the update does.
    writeFileSync(join(prefix, 'releases', '1.0.0', 'in-use'), '');
    execFileSync('ln', ['-sfn', join(prefix, 'releases', '1.0.0'), join(prefix, 'current')]);
    const same = update(release('1.0.0', { backup: 'fails' }));
    expect(same.stdout).toContain('1.0.0 is already the running release');
    expect(same.status).toBe(0);
    expect(existsSync(join(prefix, 'releases', '1.0.0', 'in-use'))).toBe(true);
    // Tab completion leaves the slash.
    execFileSync('ln', ['-sfn', 'releases/1.0.0/', join(prefix, 'current')]);
    const next = update(release('1.1.0', { backup: 'works' }));
    expect(next.status, next.stderr).toBe(0);
    expect(next.stdout).toContain('now running 1.1.0 (was 1.0.0)');
    expect(readFileSync(join(data, 'pre-update-1.0.0.db'), 'utf8')).toBe('records of 1.0.0');
  });

  it('backs up the database with the running release before switching to the new one', () => {
    expect(update(release('1.0.0', { backup: 'works' })).status).toBe(0);
    database('records of 1.0.0');
    const result = update(release('1.1.0', { backup: 'works' }));
    expect(result.status, result.stderr).toBe(0);
    expect(current()).toBe('releases/1.1.0');
    const backup = join(data, 'pre-update-1.0.0.db');
    expect(readFileSync(backup, 'utf8')).toBe('records of 1.0.0');
    const calls = readFileSync(log, 'utf8');
    // By 1.0.0's own backup.js, while `current` still pointed to it, before the restart.
    const taken = calls.indexOf(`backup --config ${config} --out ${backup} current=releases/1.0.0`);
    expect(taken).toBeGreaterThanOrEqual(0);
    expect(taken).toBeLessThan(calls.lastIndexOf('restart locker-device'));
  });

  it.each([
    ['an absolute --prefix', () => prefix],
    ['a relative --prefix', () => 'opt'],
  ])('finds a relative dbPath where the service does, from the prefix, whatever directory update.sh runs in: %s', (_, given) => {
    // The stand-in prints dbPath as written; the unit's WorkingDirectory is the prefix.
    writeFileSync(config, JSON.stringify({ dbPath: 'data/locker.db' }));
    expect(update(release('1.0.0', { backup: 'works' })).status).toBe(0);
    mkdirSync(join(prefix, 'data'));
    writeFileSync(join(prefix, 'data', 'locker.db'), 'records of 1.0.0');
    const result = spawnSync('sh', [script, release('1.1.0', { backup: 'works' }), '--prefix', given(), '--settle', '0'], { env, encoding: 'utf8', cwd: dir });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('no database');
    expect(readFileSync(join(prefix, 'data', 'pre-update-1.0.0.db'), 'utf8')).toBe('records of 1.0.0');
    expect(current()).toBe('releases/1.1.0');
  });

  it('aborts the update before switching when the backup fails, leaving everything as it was', () => {
    expect(update(release('1.0.0', { backup: 'fails' })).status).toBe(0);
    database('records of 1.0.0');
    const restartsBefore = readFileSync(log, 'utf8').match(/^restart /gm)?.length ?? 0;
    const result = update(release('1.1.0', { backup: 'works' }));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('backup failed: DB_CORRUPT');
    expect(result.stderr).toContain('update: the database backup failed (above; --no-backup skips it); update aborted, nothing changed (still running 1.0.0)');
    expect(current()).toBe('releases/1.0.0');
    expect(existsSync(join(prefix, 'releases', '1.1.0'))).toBe(false);
    expect(readFileSync(log, 'utf8').match(/^restart /gm)?.length ?? 0).toBe(restartsBefore);
  });

  it('keeps the newest two pre-update backups', () => {
    expect(update(release('1.0.0', { backup: 'works' })).status).toBe(0);
    database('records');
    for (const v of ['1.1.0', '1.2.0', '1.3.0']) expect(update(release(v, { backup: 'works' })).status).toBe(0);
    expect(readdirSync(data).filter((f) => f.startsWith('pre-update-')).sort()).toEqual(['pre-update-1.1.0.db', 'pre-update-1.2.0.db']);
  });

  /** A POSIX shell word for any string, as an operator would quote it by hand. */
  const shellWord = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

  it.each([
    ['an ordinary dbPath', 'var-lib-locker'],
    ['a dbPath with a quote and a space', join('var lib', "locker's data")],
  ])('on a rollback the previous release refuses, prints the command that restores the backup, and it works: %s', (_, where) => {
    data = join(dir, where);
    db = join(data, 'locker.db');
    writeFileSync(config, JSON.stringify({ dbPath: db }));
    expect(update(release('1.0.0', { backup: 'works' })).status).toBe(0);
    database('records of 1.0.0');
    // 2.0.0 migrates the schema, then fails: 1.0.0 refuses the migrated database.
    writeFileSync(join(dir, 'refused'), '');
    const bad = update(release('2.0.0', { broken: true, backup: 'works' }));
    expect(bad.status).toBe(1);
    expect(current()).toBe('releases/1.0.0');
    writeFileSync(db, 'records of 2.0.0, schema 2');
    writeFileSync(`${db}-wal`, 'frames of 2.0.0');
    const systemctl = join(dir, 'bin', 'systemctl');
    const backup = join(data, 'pre-update-1.0.0.db');
    const restore = `${systemctl} stop locker-device && rm -f ${shellWord(`${db}-wal`)} ${shellWord(`${db}-shm`)} ${shellWord(`${db}.clean`)} && cp -p ${shellWord(backup)} ${shellWord(db)} && ${systemctl} start locker-device`;
    expect(bad.stderr).toContain('the previous release 1.0.0 did not restart either');
    expect(bad.stderr).toContain(`  ${restore}\n`);
    // Not done automatically: the database is still what 2.0.0 left.
    expect(readFileSync(db, 'utf8')).toBe('records of 2.0.0, schema 2');
    // Copied from the terminal as printed, pasted into the operator's shell.
    const lines = bad.stderr.split('\n');
    const printed = lines[lines.findIndex((l) => l.includes('restore the copy taken before the update')) + 1] ?? '';
    execFileSync('bash', ['-c', printed.trim()]);
    expect(readFileSync(db, 'utf8')).toBe('records of 1.0.0');
    expect(existsSync(`${db}-wal`)).toBe(false);
  });

  it("backs up with the new release's backup.js when the running one predates it", () => {
    expect(update(release('1.0.0')).status).toBe(0);
    database('records of 1.0.0');
    const result = update(release('1.1.0', { backup: 'works' }));
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain("update: 1.0.0 has no backup.js (it predates the automatic backup); 1.1.0's backup.js takes the backup");
    expect(current()).toBe('releases/1.1.0');
    const backup = join(data, 'pre-update-1.0.0.db');
    expect(readFileSync(backup, 'utf8')).toBe('records of 1.0.0');
    // Before the switch, by 1.1.0's backup.js.
    const calls = readFileSync(log, 'utf8');
    const taken = calls.indexOf(`backup --config ${config} --out ${backup} current=releases/1.0.0 by=1.1.0`);
    expect(taken).toBeGreaterThanOrEqual(0);
    expect(taken).toBeLessThan(calls.lastIndexOf('restart locker-device'));
  });

  it('updates without a backup, saying so, when neither release has backup.js or before the first database', () => {
    expect(update(release('1.0.0')).status).toBe(0);
    database('records of 1.0.0');
    const old = update(release('1.1.0'));
    expect(old.status, old.stderr).toBe(0);
    expect(old.stderr).toContain('update: warning: neither 1.0.0 nor 1.1.0 has backup.js; no database backup taken');
    expect(current()).toBe('releases/1.1.0');
    expect(readdirSync(data)).toEqual(['locker.db']);
    rmSync(data, { recursive: true });
    // A board installed with --no-restart whose service never ran: no database yet.
    const fresh = update(release('1.2.0', { backup: 'works' }), '--no-restart');
    expect(fresh.status, fresh.stderr).toBe(0);
    expect(fresh.stdout).toContain(`update: no database at ${db} yet; no backup needed`);
    expect(current()).toBe('releases/1.2.0');
  });

  it.each(['active', 'auto-restart'] as const)('rolls back a release that sends READY=1 and then crash-loops (%s when looked at), settling for LOCKER_SETTLE seconds', (seen) => {
    expect(update(release('1.0.0')).status).toBe(0);
    // No --settle: LOCKER_SETTLE alone keeps this test from waiting the default 10 s.
    const started = Date.now();
    const bad = spawnSync('sh', [script, release('2.0.0', { crashes: seen }), '--prefix', prefix], { env: { ...env, LOCKER_SETTLE: '0' }, encoding: 'utf8' });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(bad.status).toBe(1);
    const state = seen === 'active' ? 'ActiveState=active SubState=running' : 'ActiveState=activating SubState=auto-restart';
    expect(bad.stderr).toContain(`update: 2.0.0 did not stay up (${state}, NRestarts 1 -> 2 over 0 s): a crash loop; rolling back`);
    expect(bad.stdout).toContain('update: back on 1.0.0');
    expect(current()).toBe('releases/1.0.0');
    expect(existsSync(join(prefix, 'releases', '2.0.0'))).toBe(false);
    expect(readFileSync(log, 'utf8').match(/^show -p ActiveState,SubState,NRestarts locker-device$/gm)).toHaveLength(6);
  });

  it('keeps a release that stays up when `systemctl show` fails now and then (a busy D-Bus), trying it again', () => {
    expect(update(release('1.0.0')).status).toBe(0);
    // Every other `show` fails, as systemctl does when D-Bus times out.
    const calls = join(dir, 'show-calls');
    writeFileSync(join(dir, 'bin', 'systemctl'), [
      '#!/bin/sh',
      `echo "$*" >> ${log}`,
      '[ "$1" = show ] || exit 0',
      `n=$(( $(cat ${calls} 2>/dev/null || echo 0) + 1 )); echo $n > ${calls}`,
      '[ $((n % 2)) -eq 0 ] || { echo "Failed to get properties: Connection timed out" >&2; exit 1; }',
      'printf "ActiveState=active\\nSubState=running\\nNRestarts=0\\n"',
      '',
    ].join('\n'), { mode: 0o755 });
    const result = update(release('1.1.0'));
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('update: now running 1.1.0 (was 1.0.0)');
    expect(current()).toBe('releases/1.1.0');
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('rolls back on %s once `current` is switched, and lets nothing interrupt the rollback', (signal, status) => {
    expect(update(release('1.0.0')).status).toBe(0);
    // Ctrl-C (or a kill) while the new release starts, and again while the previous one does.
    fakeSystemctl(`kill -${signal.slice(3)} $PPID`);
    const result = update(release('1.1.0'));
    expect(result.signal).toBeNull();
    expect(result.status).toBe(status);
    expect(result.stderr).toContain(`update: interrupted (${signal}) before 1.1.0 passed its check; rolling back`);
    expect(result.stdout).toContain('update: back on 1.0.0');
    // The last word says how the rollback went.
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe(`update: the rollback after ${signal} succeeded: 1.0.0 is up and settled (0 s), 1.1.0 removed`);
    expect(current()).toBe('releases/1.0.0');
    expect(existsSync(join(prefix, 'releases', '1.1.0'))).toBe(false);
    expect(readFileSync(log, 'utf8').match(/^restart locker-device$/gm)).toHaveLength(3);
  });

  describe('on an interrupt in the instant the traps that roll back are armed but `current` is not yet switched', () => {
    /** ln or mv on PATH sending ${signal} to update.sh (its parent) as it links or renames `current.next`, the switch to 1.1.0. */
    const interruptingSwitch = (tool: 'ln' | 'mv', signal: 'INT' | 'TERM', when: 'before' | 'after'): NodeJS.ProcessEnv => {
      const bin = join(dir, 'interrupting-bin');
      mkdirSync(bin);
      const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      const kill = `case "$*" in *current.next*) kill -${signal} $PPID ;; esac`;
      writeFileSync(join(bin, tool), when === 'before'
        ? `#!/bin/sh\n${kill}\nexec ${real} "$@"\n`
        : `#!/bin/sh\n${real} "$@" || exit\n${kill}\n`, { mode: 0o755 });
      return { ...env, PATH: `${bin}:${env['PATH'] ?? ''}` };
    };
    const run = (environment: NodeJS.ProcessEnv) => spawnSync('sh', [script, release('1.1.0'), '--prefix', prefix, '--settle', '0'], { env: environment, encoding: 'utf8' });

    it.each([
      ['SIGINT', 'INT', 130],
      ['SIGTERM', 'TERM', 143],
    ] as const)('stops as before the switch on %s while `current.next` is made: nothing restarted, nothing left behind', (_, signal, status) => {
      expect(update(release('1.0.0')).status).toBe(0);
      const result = run(interruptingSwitch('ln', signal, 'before'));
      expect(result.status).toBe(status);
      expect(result.stderr).toContain('update: interrupted before switching; nothing changed');
      expect(result.stderr).not.toContain('rolling back');
      expect(current()).toBe('releases/1.0.0');
      // Only the first install's restart: the running release was not restarted for nothing.
      expect(readFileSync(log, 'utf8').match(/^restart locker-device$/gm)).toHaveLength(1);
      expect(readdirSync(prefix).sort()).toEqual(['current', 'releases']);
      expect(readdirSync(join(prefix, 'releases'))).toEqual(['1.0.0']);
    });

    it('rolls back when the interrupt comes as `current` was just renamed over: the switch happened', () => {
      expect(update(release('1.0.0')).status).toBe(0);
      const result = run(interruptingSwitch('mv', 'INT', 'after'));
      expect(result.status).toBe(130);
      expect(result.stderr).toContain('update: interrupted (SIGINT) before 1.1.0 passed its check; rolling back');
      expect(result.stdout).toContain('update: back on 1.0.0');
      expect(current()).toBe('releases/1.0.0');
      expect(readFileSync(log, 'utf8').match(/^restart locker-device$/gm)).toHaveLength(2);
      expect(readdirSync(prefix).sort()).toEqual(['current', 'releases']);
    });
  });

  it('after an interrupt whose rollback fails (the previous release refuses the database), says so and prints the restore command', () => {
    expect(update(release('1.0.0', { backup: 'works' })).status).toBe(0);
    database('records of 1.0.0');
    // 1.1.0 migrated the schema before the Ctrl-C: 1.0.0 no longer starts.
    writeFileSync(join(dir, 'refused'), '');
    fakeSystemctl('kill -INT $PPID');
    const result = update(release('1.1.0', { backup: 'works' }));
    expect(result.status).toBe(130);
    expect(current()).toBe('releases/1.0.0');
    expect(result.stdout).not.toContain('back on');
    expect(result.stderr).toContain('update: the previous release 1.0.0 did not restart either');
    expect(result.stderr).toContain('update: the rollback after SIGINT failed: current is back on 1.0.0, but it is not up (journalctl -u locker-device)');
    const systemctl = join(dir, 'bin', 'systemctl');
    expect(result.stderr).toContain(`  ${systemctl} stop locker-device && rm -f ${shellWord(`${db}-wal`)} ${shellWord(`${db}-shm`)} ${shellWord(`${db}.clean`)} && cp -p ${shellWord(join(data, 'pre-update-1.0.0.db'))} ${shellWord(db)} && ${systemctl} start locker-device\n`);
  });

  it('leaves no settle wait running behind it when a SIGTERM during the wait ends in a rollback that does not wait', () => {
    // No previous release: the rollback stops the service and exits at once. A sleep left
    // running would hold stdout, and whatever reads it (ssh, a pipe, this test) would wait
    // out the whole settle period.
    fakeSystemctl('{ (sleep 1; kill -TERM $PPID) >/dev/null 2>&1 & }');
    const started = Date.now();
    const result = spawnSync('sh', [script, release('1.0.0'), '--prefix', prefix, '--settle', '20'], { env, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(143);
    expect(result.stderr).toContain('update: interrupted (SIGTERM) before 1.0.0 passed its check; rolling back');
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 30_000);

  it('leaves no systemctl restart of the new release running behind the rollback an interrupt started', async () => {
    expect(update(release('1.0.0')).status).toBe(0);
    // Ctrl-C while 1.1.0 starts; that restart's client would go on (and here write) after it.
    fakeSystemctl(`if [ -e ${prefix}/current/late ]; then kill -INT $PPID; sleep 1; echo late >> ${log}; fi`);
    const result = update(release('1.1.0', { late: true }));
    expect(result.status).toBe(130);
    expect(current()).toBe('releases/1.0.0');
    await new Promise((done) => setTimeout(done, 1500));
    expect(readFileSync(log, 'utf8')).not.toMatch(/^late$/m);
  });

  it('stops on SIGTERM before the switch with nothing changed, the new release removed', () => {
    expect(update(release('1.0.0')).status).toBe(0);
    // A kill while `npm ci` builds, to update.sh itself: the outermost ancestor running it
    // (the ( cd … ) around npm may be a subshell of it).
    writeFileSync(join(dir, 'bin', 'npm'), [
      '#!/bin/sh',
      'mkdir -p node_modules',
      'p=$PPID; top=""',
      'while [ "${p:-1}" -gt 1 ]; do',
      `  case "$(ps -o args= -p "$p")" in *${script}*) top=$p ;; *) break ;; esac`,
      '  p=$(ps -o ppid= -p "$p" | tr -d " ")',
      'done',
      '[ -n "$top" ] && kill -TERM "$top"',
      '',
    ].join('\n'), { mode: 0o755 });
    const result = update(release('1.1.0'));
    expect(result.status).toBe(143);
    expect(result.stderr).toContain('update: interrupted before switching; nothing changed');
    expect(current()).toBe('releases/1.0.0');
    expect(readdirSync(prefix).sort()).toEqual(['current', 'releases']);
    expect(readdirSync(join(prefix, 'releases'))).toEqual(['1.0.0']);
  });

  it.each<[string, string[], Record<string, string>, string]>([
    ['--settle .', ['--settle', '.'], {}, '.'],
    ['--settle 1.5', ['--settle', '1.5'], {}, '1.5'],
    ['--settle -1', ['--settle', '-1'], {}, '-1'],
    ['LOCKER_SETTLE=ten', [], { LOCKER_SETTLE: 'ten' }, 'ten'],
  ])('refuses a settle period that is not a whole number of seconds (%s), changing nothing', (_, args, more, given) => {
    const result = spawnSync('sh', [script, release('1.0.0'), '--prefix', prefix, ...args], { env: { ...env, ...more }, encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`update: --settle (or LOCKER_SETTLE) needs a whole number of seconds, 0 or more, not '${given}'`);
    expect(existsSync(prefix)).toBe(false);
    expect(existsSync(log)).toBe(false);
  });

  it.each(['--settle', '--keep', '--prefix', '--unit'])('answers %s given last without its value with the usage line, changing nothing', (option) => {
    const result = spawnSync('sh', [script, release('1.0.0'), option], { env: { ...env, LOCKER_SETTLE: '0' }, encoding: 'utf8', cwd: dir });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`update: ${option} needs a value`);
    expect(result.stderr).toContain('usage: update.sh TARBALL');
    expect(result.stderr).not.toContain('parameter not set');
    expect(existsSync(log)).toBe(false);
  });

  it('refuses a --keep that is not a whole number before changing anything, not after a working update', () => {
    const result = update(release('1.0.0'), '--keep', 'three');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("update: --keep needs a whole number of releases, not 'three'");
    expect(existsSync(prefix)).toBe(false);
    expect(existsSync(log)).toBe(false);
  });

  it('runs one update at a time: a second one started meanwhile (a fleet tool retrying) waits and then sees where the first left the board', async () => {
    expect(update(release('1.0.0')).status).toBe(0);
    // 1.1.0 takes a while to fail its start; the retry of the same update comes meanwhile.
    const started = join(dir, 'started');
    fakeSystemctl(`[ ! -e ${prefix}/current/broken ] || { touch ${started}; sleep 2; }`);
    const tarball = release('1.1.0', { broken: true });
    const first = spawn('sh', [script, tarball, '--prefix', prefix, '--settle', '0'], { env, stdio: 'ignore' });
    const firstDone = new Promise<number | null>((done) => first.on('exit', (code) => done(code)));
    while (!existsSync(started)) await new Promise((done) => setTimeout(done, 50));
    const second = await new Promise<{ status: number | null; stdout: string }>((done) => {
      const child = spawn('sh', [script, tarball, '--prefix', prefix, '--settle', '0'], { env });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.on('exit', (status) => done({ status, stdout }));
    });
    expect(await firstDone).toBe(1);
    // Not "1.1.0 is already the running release" (exit 0) while the first was rolling it back.
    expect(second.stdout).toContain(`update: another update is running under ${prefix}; waiting for it to finish`);
    expect(second.stdout).not.toContain('already the running release');
    expect(second.status).toBe(1);
    expect(current()).toBe('releases/1.0.0');
    expect(readdirSync(join(prefix, 'releases'))).toEqual(['1.0.0']);
  }, 30_000);

  it('removes what a run killed outright (or a power loss) left unpacked', () => {
    expect(update(release('1.0.0')).status).toBe(0);
    mkdirSync(join(prefix, '.incoming.AbC123', 'locker-device-1.1.0', 'node_modules'), { recursive: true });
    execFileSync('ln', ['-s', 'releases/1.1.0', join(prefix, 'current.next')]);
    expect(update(release('1.2.0')).status).toBe(0);
    expect(readdirSync(prefix).sort()).toEqual(['current', 'releases']);
  });

  describe('with --unit: the new release starts under its own unit, a rollback under the previous one', () => {
    const unitDir = (): string => join(dir, 'systemd');
    const unitFile = (): string => join(unitDir(), 'locker-device.service');
    /** The board as it runs 1.0.0: its unit on disk and loaded. */
    const board = (): void => {
      mkdirSync(unitDir());
      writeFileSync(unitFile(), 'ExecStart=old\n');
      copyFileSync(unitFile(), join(dir, 'loaded.service'));
      expect(update(release('1.0.0')).status).toBe(0);
    };
    const newUnit = (): string => {
      writeFileSync(join(dir, 'new.service'), 'ExecStart=new\n');
      return join(dir, 'new.service');
    };
    const ran = (): string[] => readFileSync(join(dir, 'ran.log'), 'utf8').trim().split('\n');

    it('puts the unit in place and reloads systemd before the restart, and keeps it', () => {
      board();
      const result = update(release('1.1.0'), '--unit', newUnit(), '--unit-dir', unitDir());
      expect(result.status, result.stderr).toBe(0);
      expect(ran().at(-1)).toBe('releases/1.1.0 under new');
      expect(readFileSync(unitFile(), 'utf8')).toBe('ExecStart=new\n');
      expect(statSync(unitFile()).mode & 0o777).toBe(0o644);
      expect(readdirSync(unitDir())).toEqual(['locker-device.service']);
      const calls = readFileSync(log, 'utf8');
      expect(calls.lastIndexOf('daemon-reload')).toBeLessThan(calls.lastIndexOf('restart locker-device'));
    });

    it('rolls back to the previous unit as well as the previous release, reloaded before the restart', () => {
      board();
      const bad = update(release('2.0.0', { broken: true }), '--unit', newUnit(), '--unit-dir', unitDir());
      expect(bad.status).toBe(1);
      expect(ran().slice(-2)).toEqual(['releases/2.0.0 under new', 'releases/1.0.0 under old']);
      expect(current()).toBe('releases/1.0.0');
      expect(readFileSync(unitFile(), 'utf8')).toBe('ExecStart=old\n');
      expect(readdirSync(unitDir())).toEqual(['locker-device.service']);
    });

    it('changes nothing in systemd when the unit is the same', () => {
      board();
      writeFileSync(join(dir, 'same.service'), 'ExecStart=old\n');
      const result = update(release('1.1.0'), '--unit', join(dir, 'same.service'), '--unit-dir', unitDir());
      expect(result.status, result.stderr).toBe(0);
      expect(readFileSync(log, 'utf8')).not.toMatch(/^daemon-reload/m);
      expect(ran().at(-1)).toBe('releases/1.1.0 under old');
    });
  });

  describe('on a card that fills up while the new release runs', () => {
    /** ln (and with readOnly mv too) on PATH failing once the new release started, as on a full or read-only card. */
    const failingTools = (readOnly: boolean): NodeJS.ProcessEnv => {
      const bin = join(dir, 'failing-bin');
      mkdirSync(bin);
      const real = (tool: string): string => execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      writeFileSync(join(bin, 'ln'), `#!/bin/sh
[ ! -e ${dir}/full ] || { echo "ln: failed to create symbolic link: No space left on device" >&2; exit 1; }
exec ${real('ln')} "$@"
`, { mode: 0o755 });
      if (readOnly) writeFileSync(join(bin, 'mv'), `#!/bin/sh
[ ! -e ${dir}/full ] || { echo "mv: cannot move: Read-only file system" >&2; exit 1; }
exec ${real('mv')} "$@"
`, { mode: 0o755 });
      fakeSystemctl(`[ ! -e ${prefix}/current/broken ] || touch ${dir}/full`);
      return { ...env, PATH: `${bin}:${env['PATH'] ?? ''}` };
    };

    it('still rolls back: the link back was made before the switch, and going back is a rename', () => {
      expect(update(release('1.0.0')).status).toBe(0);
      const full = failingTools(false);
      const bad = spawnSync('sh', [script, release('2.0.0', { broken: true }), '--prefix', prefix, '--settle', '0'], { env: full, encoding: 'utf8' });
      expect(bad.status).toBe(1);
      expect(bad.stdout).toContain('update: back on 1.0.0');
      expect(current()).toBe('releases/1.0.0');
      expect(existsSync(join(prefix, 'releases', '2.0.0'))).toBe(false);
      expect(readdirSync(prefix).sort()).toEqual(['current', 'releases']);
    });

    it('when even the rename fails, says where the board stands and prints the commands that finish the rollback, which work', () => {
      mkdirSync(join(dir, 'systemd'));
      writeFileSync(join(dir, 'systemd', 'locker-device.service'), 'ExecStart=old\n');
      expect(update(release('1.0.0')).status).toBe(0);
      writeFileSync(join(dir, 'new.service'), 'ExecStart=new\n');
      const readOnly = failingTools(true);
      const bad = spawnSync('sh', [script, release('2.0.0', { broken: true }), '--prefix', prefix, '--settle', '0', '--unit', join(dir, 'new.service'), '--unit-dir', join(dir, 'systemd')], { env: readOnly, encoding: 'utf8' });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain(`update: ROLLBACK INCOMPLETE: ${prefix}/current could not be switched back to 1.0.0`);
      expect(bad.stderr).toContain('update: the board now: current still links releases/2.0.0, which did not become ready, under its own unit; systemd shows it ActiveState=active SubState=running');
      // Still there: `current` links it.
      expect(current()).toBe('releases/2.0.0');
      expect(existsSync(join(prefix, 'releases', '2.0.0', 'main.js'))).toBe(true);
      const lines = bad.stderr.split('\n');
      const printed = lines[lines.findIndex((l) => l.includes('to finish the rollback by hand')) + 1] ?? '';
      const systemctl = join(dir, 'bin', 'systemctl');
      const kept = join(dir, 'systemd', '.locker-device.service.pre-update');
      expect(printed).toBe(`  ln -sfn 'releases/1.0.0' ${shellWord(join(prefix, 'current'))} && mv -f ${shellWord(kept)} ${shellWord(join(dir, 'systemd', 'locker-device.service'))} && ${systemctl} daemon-reload && ${systemctl} restart locker-device`);
      // The card is writable again; the operator pastes the command.
      rmSync(join(dir, 'full'));
      execFileSync('sh', ['-c', printed.trim()], { env });
      expect(current()).toBe('releases/1.0.0');
      expect(readFileSync(join(dir, 'systemd', 'locker-device.service'), 'utf8')).toBe('ExecStart=old\n');
      expect(readFileSync(join(dir, 'ran.log'), 'utf8').trim().split('\n').at(-1)).toBe('releases/1.0.0 under old');
    });
  });

  it('--help says what an interrupt does, and exits 0', () => {
    const help = spawnSync('sh', [script, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: update\.sh TARBALL/);
    expect(help.stdout).toContain('Ctrl-C (SIGINT) or SIGTERM\nmeans "roll back now"');
  });
});
