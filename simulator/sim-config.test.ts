import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataDirPaths, wipeDataDir } from './data-dir.js';
import { DEFAULT_LAYOUT, loadSimConfig, parseSimConfig, simDeviceConfig } from './sim-config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sim-config-'));
  dirs.push(dir);
  return dir;
}

describe('simulator config', () => {
  it('defaults to a 12-compartment bank of 4 S, 4 M, 3 L and 1 XL', () => {
    const config = parseSimConfig({});
    expect(config.compartments).toEqual(DEFAULT_LAYOUT);
    expect(config.compartments.map((c) => c.size).join('')).toBe('SSSSMMMMLLLXL');
    expect(config.hardware).toEqual({ debounceMs: 50, maxPulseMs: 2000, pulseMs: 0, scannerMaxLength: 2048 });
    expect(config.person.autoOpenOnPulse).toBe(true);
  });

  it('reads a JSON file and refuses unknown keys, duplicate ids and bad JSON with the reason', () => {
    const dir = tempDir();
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    expect(loadSimConfig(file('ok.json', '{"lockerId":"lab-2","compartments":[{"id":"B1","size":"L"}]}')).compartments).toEqual([{ id: 'B1', size: 'L' }]);
    expect(() => loadSimConfig(file('typo.json', '{"lockerID":"lab-2"}'))).toThrow(/lockerID/);
    expect(() => loadSimConfig(file('dup.json', '{"compartments":[{"id":"A1","size":"S"},{"id":"A1","size":"M"}]}'))).toThrow(/unique/);
    expect(() => loadSimConfig(file('bad.json', '{'))).toThrow(/not valid JSON/);
    expect(() => loadSimConfig(join(dir, 'missing.json'))).toThrow(/cannot read config file/);
  });

  it('builds the device config a board would have, validated by the device schema', () => {
    const paths = dataDirPaths(tempDir());
    const device = simDeviceConfig(parseSimConfig({ device: { codeLength: 9, timeouts: { doorOpenWaitMs: 5_000 } } }), paths);
    expect(device).toMatchObject({ lockerId: 'sim-locker-1', codeLength: 9, dbPath: paths.database, codePepperFile: paths.codePepper });
    expect(device.timeouts.doorOpenWaitMs).toBe(5_000);
    expect(device.hardware.kind).toBe('simulated');
    // The device's own rules apply: codes too short for the lockout budget are refused.
    expect(() => simDeviceConfig(parseSimConfig({ device: { codeLength: 4 } }), paths)).toThrow(/codeLength/);
    // What the simulator derives itself cannot be overridden by the back door.
    expect(() => simDeviceConfig(parseSimConfig({ device: { dbPath: '/elsewhere.db' } }), paths)).toThrow(/device.dbPath is set by the simulator/);
  });

  it('refuses to wipe the working directory or the filesystem root', () => {
    expect(() => wipeDataDir(dataDirPaths('.'))).toThrow(/refusing/);
    expect(() => wipeDataDir(dataDirPaths('/'))).toThrow(/refusing/);
    expect(dataDirPaths('var/sim').root).toBe(resolve('var/sim'));
  });
});
