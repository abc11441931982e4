import { describe, expect, it } from 'vitest';
import { DeviceError, describeError } from './errors.js';

describe('describeError', () => {
  it('names the code, the file and the cause of a start-up failure', () => {
    const cause = new Error("ENOENT: no such file or directory, open '/etc/locker/device.json'");
    const err = new DeviceError('CONFIG_INVALID', 'device config file is unreadable', { path: '/etc/locker/device.json' }, { cause });
    expect(describeError(err)).toBe(`CONFIG_INVALID: device config file is unreadable | path: /etc/locker/device.json | cause: ${cause.message}`);
  });

  it('lists each invalid field once, even when the message already carries them', () => {
    const err = new DeviceError('CONFIG_INVALID', 'invalid device config: dbPath: required', { path: '/etc/locker/device.json', issues: ['dbPath: required'] });
    expect(describeError(err)).toBe('CONFIG_INVALID: invalid device config: dbPath: required | path: /etc/locker/device.json');
  });
});
