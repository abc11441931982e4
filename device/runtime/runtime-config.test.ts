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
