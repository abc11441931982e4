import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCodePepper, readDeviceConfigFile } from '@locker/device/config.js';
import { freePort } from '@locker/sync-testing/free-port.js';
import { ProvisionInput } from './provision-input.js';
import { provisionLocker, readProvisionInput, type ProvisionOptions } from './provision-locker.js';
import { lockerJson, runProvisionCli as runCli, simulatedHardware, startHttpBackend, type HttpBackend } from './provision-test-kit.js';

// The provision command against the real backend over HTTP: what it writes when all goes
// well, and that every failure says what happened and never leaves a registered locker
// whose code pepper nobody holds.

const hasMosquittoPasswd = ['/usr/bin/mosquitto_passwd', '/usr/local/bin/mosquitto_passwd'].some((p) => existsSync(p));

describe('npm run provision', () => {
  let backend: HttpBackend;
  let dir = '';
  let n = 0;

  beforeAll(async () => {
    backend = await startHttpBackend();
    dir = mkdtempSync(join(tmpdir(), 'provision-'));
  });
  afterAll(async () => {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Options for a fresh locker id and an empty bundle directory. */
  function options(change: Partial<ProvisionOptions> & { hardware?: ReturnType<typeof simulatedHardware> } = {}): ProvisionOptions & { lockerId: string } {
    const lockerId = `locker-prov-${String(++n)}`;
    const outDir = join(dir, `bundle-${String(n)}`);
    const { hardware, ...rest } = change;
    return {
      lockerId,
      backendUrl: backend.url,
      apiKey: backend.apiKey,
      input: ProvisionInput.parse(lockerJson(lockerId, hardware ?? simulatedHardware())),
      brokerUrl: 'mqtt://127.0.0.1:1883',
      outDir,
      etcDir: outDir,
      dataDir: join(dir, 'data'),
      firmwareVersion: 'test-1',
      ...rest,
    };
  }

  const registered = async (lockerId: string): Promise<boolean> => (await backend.f.store.lockers.gate(lockerId)) !== undefined;

  it('writes a bundle the device accepts: trusted keys, broker credentials, the code pepper, all mode 0600', async () => {
    const o = options();
    const result = await provisionLocker(o);
    expect(await registered(o.lockerId)).toBe(true);
    const config = readDeviceConfigFile(result.configPath);
    expect(config.lockerId).toBe(o.lockerId);
    expect(config.trustedKeys.length).toBeGreaterThan(0);
    expect(config.sync?.mqtt).toMatchObject({ url: 'mqtt://127.0.0.1:1883', username: o.lockerId });
    expect(config.codePepperFile).toBe(result.pepperPath);
    expect(readCodePepper(result.pepperPath).length).toBeGreaterThanOrEqual(16);
    expect(readFileSync(result.brokerEntryPath, 'utf8')).toBe(`${o.lockerId} ${String(config.sync?.mqtt.password)}\n`);
    for (const file of [result.configPath, result.pepperPath, result.brokerEntryPath]) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(o.outDir).mode & 0o777).toBe(0o700);
  });

  it('puts the database at <data-dir>/locker.db, the file the recovery and backup steps name', async () => {
    // docs/operations.md moves locker.db aside after corruption and docs/hardware.md backs it
    // up with sqlite3 before an update: under another name that backup is an empty new file.
    const o = options();
    const result = await provisionLocker(o);
    expect(readDeviceConfigFile(result.configPath).dbPath).toBe(join(o.dataDir, 'locker.db'));
  });

  it('tells the operator to install the bundle with install.sh, not to copy it with a mode the service cannot read', async () => {
    const lockerId = `locker-prov-cli-${String(++n)}`;
    const locker = join(dir, `${lockerId}.json`);
    writeFileSync(locker, JSON.stringify(lockerJson(lockerId, simulatedHardware())));
    const out = join(dir, `bundle-${lockerId}`);
    const run = await runCli(['--backend', backend.url, '--locker', locker, '--broker', 'mqtt://127.0.0.1:1883', '--out', out], { LOCKER_API_KEY: backend.apiKey });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('install.sh --config device.json --pepper code-pepper');
    // A root-owned 0600 device.json is unreadable to the `locker` user the unit runs as.
    expect(run.stdout).not.toContain('0600');
  });

  it.skipIf(!hasMosquittoPasswd)('adds the locker to the Mosquitto password file, hashed', async () => {
    const passwd = join(dir, 'passwd-ok');
    const o = options({ mosquittoPasswd: passwd });
    await provisionLocker(o);
    const password = readDeviceConfigFile(join(o.outDir, 'device.json')).sync?.mqtt.password ?? '';
    const text = readFileSync(passwd, 'utf8');
    expect(text).toMatch(new RegExp(`^${o.lockerId}:\\$7\\$`, 'm'));
    expect(text).not.toContain(password);
  });

  it('refuses a locker that is already registered (409) and writes no bundle', async () => {
    const first = options();
    await provisionLocker(first);
    const again = { ...options(), input: first.input };
    await expect(provisionLocker(again)).rejects.toThrow(`locker ${first.lockerId} is already registered`);
    expect(readdirSync(again.outDir)).toEqual([]);
  });

  it('refuses a directory that already holds a bundle before registering anything', async () => {
    const first = options();
    await provisionLocker(first);
    const second = { ...options(), outDir: first.outDir, etcDir: first.outDir };
    await expect(provisionLocker(second)).rejects.toThrow(/already holds a bundle .*nothing was registered/);
    // Registering it anyway would lose its pepper: the write would fail after the backend made it.
    expect(await registered(second.lockerId)).toBe(false);
  });

  it('reports an unreadable or invalid locker.json with the field at fault', () => {
    const notJson = join(dir, 'not-json.json');
    writeFileSync(notJson, '{ registration: ');
    expect(() => readProvisionInput(notJson)).toThrow(`cannot read ${notJson}`);
    expect(() => readProvisionInput(join(dir, 'missing.json'))).toThrow(/cannot read .*missing\.json: ENOENT/);
    const invalid = join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ ...lockerJson('locker-bad', simulatedHardware()), registration: { id: 'Locker Bad', compartments: [] }, extra: 1 }));
    expect(() => readProvisionInput(invalid)).toThrow(/invalid\.json is invalid: .*registration\.id.*registration\.compartments.*extra/s);
  });

  it('refuses wiring that lacks a registered compartment without registering the locker', async () => {
    const o = options({ hardware: simulatedHardware({ compartmentIds: ['S1', 'M1'] }) });
    await expect(provisionLocker(o)).rejects.toThrow('no hardware for compartment M2');
    expect(await registered(o.lockerId)).toBe(false);
  });

  it('says so when the backend is unreachable', async () => {
    const o = options({ backendUrl: `http://127.0.0.1:${String(await freePort())}` });
    await expect(provisionLocker(o)).rejects.toThrow(/backend http:\/\/127\.0\.0\.1:\d+ unreachable/);
    expect(readdirSync(o.outDir)).toEqual([]);
  });

  it('reports a wrong API key as the backend answered it', async () => {
    const o = options({ apiKey: 'lk_wrong' });
    await expect(provisionLocker(o)).rejects.toThrow(/answered 401/);
    expect(await registered(o.lockerId)).toBe(false);
  });

  it('names the bundle and the manual step when the broker password file cannot be updated', async () => {
    const passwd = join(dir, 'no-such-dir', 'passwd');
    const o = options({ mosquittoPasswd: passwd });
    await expect(provisionLocker(o)).rejects.toThrow(
      `registered and its bundle written to ${o.outDir}, but adding its broker user to ${passwd} failed`,
    );
    // The bundle is complete (the pepper is safe): the operator adds the entry by hand.
    expect(readdirSync(o.outDir).sort()).toEqual(['code-pepper', 'device.json', 'mosquitto-passwd-entry']);
  });

  it('exits 1 with the reason on stderr, and 2 with the usage when the API key is missing', async () => {
    const locker = join(dir, 'cli-invalid.json');
    writeFileSync(locker, JSON.stringify({ registration: {} }));
    const args = ['--backend', backend.url, '--locker', locker, '--broker', 'mqtt://127.0.0.1:1883', '--out', join(dir, 'cli-out')];
    const failed = await runCli(args, { LOCKER_API_KEY: backend.apiKey });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^provisioning failed: .*cli-invalid\.json is invalid: registration\.id/);
    const noKey = await runCli(args, {});
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('admin key in LOCKER_API_KEY');
  });
});
