import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isDeviceError } from '../errors.js';
import { startDevice } from '../main.js';

const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function configFile(overrides: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'device-main-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'pepper'), `${'ab'.repeat(32)}\n`);
  const config = {
    lockerId: 'locker-main-1',
    compartments: [{ id: 'A01', size: 'M' }, { id: 'A02', size: 'L' }],
    codePepperFile: join(dir, 'pepper'),
    dbPath: join(dir, 'device.db'),
    logLevel: 'silent',
    hardware: { kind: 'simulated', compartments: [{ id: 'A01' }, { id: 'A02' }] },
    ...overrides,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return join(dir, 'config.json');
}

describe('device composition root', () => {
  it('brings up a simulated locker from a config file and stops it cleanly', async () => {
    const device = await startDevice(configFile());
    expect(device.hardware.kind).toBe('simulated');
    expect(device.store.listCompartments().map((c) => c.id)).toEqual(['A01', 'A02']);
    expect(device.runtime.health().compartments).toHaveLength(2);
    await device.stop();
    await device.stop();
  });

  it('fails with CONFIG_INVALID for a config that breaks the lockout math', async () => {
    const path = configFile({ codeLength: 6 });
    const error = await startDevice(path).catch((err: unknown) => err);
    expect(isDeviceError(error, 'CONFIG_INVALID')).toBe(true);
  });

  it('fails with CONFIG_INVALID when the pepper file is missing', async () => {
    const path = configFile({ codePepperFile: '/nonexistent/pepper' });
    const error = await startDevice(path).catch((err: unknown) => err);
    expect(isDeviceError(error, 'CONFIG_INVALID')).toBe(true);
  });
});
