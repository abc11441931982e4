import { describe, expect, it } from 'vitest';
import { decodeCodePepper, parseDeviceConfig } from '../config.js';
import { isDeviceError } from '../errors.js';
import { lockoutPolicyOf, runtimeConfigFrom } from './runtime-config.js';

const base = {
  lockerId: 'locker-cfg-1',
  compartments: [{ id: 'A01', size: 'M' }],
  codePepperFile: '/etc/locker/pepper',
  dbPath: '/var/lib/locker/device.db',
  hardware: { kind: 'simulated', compartments: [{ id: 'A01' }] },
};

function rejects(input: unknown): string {
  try {
    parseDeviceConfig(input);
  } catch (err) {
    if (isDeviceError(err, 'CONFIG_INVALID')) return err.message;
    throw err;
  }
  throw new Error('config was accepted');
}

describe('device config', () => {
  it('fills every default of a minimal config', () => {
    const config = parseDeviceConfig(base);
    expect(config.codeLength).toBe(8);
    expect(config.crypto).toBe('node-crypto');
    expect(config.timeouts.keypadIdleMs).toBe(15_000);
    expect(config.lockout).toMatchObject({ freeAttempts: 3, maxLiveCodes: 200, targetDailyProbability: 1e-4 });
    // The flap guard's thresholds as they were when they were constants, plus the slow window.
    expect(config.doorFlap).toEqual({ edges: 6, windowMs: 5_000, quietMs: 10_000, slowEdges: 8, slowWindowMs: 60_000 });
  });

  it('hands the door flap thresholds to the runtime, filling the ones left out', () => {
    const config = parseDeviceConfig({ ...base, doorFlap: { edges: 4, slowWindowMs: 30_000 } });
    expect(runtimeConfigFrom(config, new Uint8Array(16)).doorFlap).toEqual({ edges: 4, windowMs: 5_000, quietMs: 10_000, slowEdges: 8, slowWindowMs: 30_000 });
  });

  it('derives a 50-failure daily budget for 8-digit codes', () => {
    expect(lockoutPolicyOf(runtimeConfigFrom(parseDeviceConfig(base), new Uint8Array(16))).dailyFailureBudget).toBe(50);
  });

  const invalid: Array<{ name: string; input: unknown; message: RegExp }> = [
    { name: 'refuses 6-digit codes with 200 live codes, which cannot meet the guessing target', input: { ...base, codeLength: 6 }, message: /allow only 0 failures a day/ },
    { name: 'refuses a code length outside 6 to 10', input: { ...base, codeLength: 11 }, message: /codeLength/ },
    { name: 'refuses a compartment without hardware', input: { ...base, compartments: [{ id: 'A01', size: 'M' }, { id: 'A02', size: 'L' }] }, message: /no hardware for compartment A02/ },
    { name: 'refuses duplicate compartment ids', input: { ...base, compartments: [{ id: 'A01', size: 'M' }, { id: 'A01', size: 'L' }] }, message: /unique/ },
    { name: 'refuses unknown keys', input: { ...base, pin: '1234' }, message: /Unrecognized key/ },
    { name: 'refuses an unknown crypto adapter', input: { ...base, crypto: 'openssl' }, message: /crypto/ },
    { name: 'refuses a flap guard counting fewer than 2 edges', input: { ...base, doorFlap: { edges: 1 } }, message: /doorFlap\.edges: must be at least 2/ },
    { name: 'refuses a slow flap window counting fewer than 2 edges', input: { ...base, doorFlap: { slowEdges: 0 } }, message: /doorFlap\.slowEdges: must be at least 2/ },
    { name: 'refuses a flap quiet period shorter than the window', input: { ...base, doorFlap: { windowMs: 5_000, quietMs: 2_000 } }, message: /doorFlap\.quietMs: must be at least windowMs \(5000\)/ },
    { name: 'refuses a slow flap window shorter than the fast one', input: { ...base, doorFlap: { slowWindowMs: 3_000 } }, message: /doorFlap\.slowWindowMs: must be at least windowMs/ },
    { name: 'refuses a quiet period a slowly flapping sensor would settle in', input: { ...base, doorFlap: { slowEdges: 3 } }, message: /doorFlap\.quietMs: must be at least slowWindowMs \/ \(slowEdges - 1\) \(30000\)/ },
    { name: 'refuses unknown flap guard keys', input: { ...base, doorFlap: { edge: 6 } }, message: /doorFlap: Unrecognized key.*"edge"/ },
  ];
  for (const c of invalid) {
    it(c.name, () => {
      expect(rejects(c.input)).toMatch(c.message);
    });
  }
});

describe('code pepper file', () => {
  const pepper = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1));
  const table: Array<{ name: string; file: Buffer }> = [
    { name: 'reads a hex pepper', file: Buffer.from(`${pepper.toString('hex')}\n`) },
    { name: 'reads a base64url pepper as the backend provisions it', file: Buffer.from(`${pepper.toString('base64url')}\n`) },
    { name: 'reads a raw binary pepper', file: pepper },
  ];
  for (const c of table) {
    it(c.name, () => {
      expect(Buffer.from(decodeCodePepper(c.file)).equals(pepper)).toBe(true);
    });
  }

  it('refuses a pepper shorter than 16 bytes', () => {
    expect(() => decodeCodePepper(Buffer.from('abcd'))).toThrow(/at least 16 bytes/);
  });
});
