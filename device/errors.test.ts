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

describe('describeError for errors of other layers', () => {
  it('keeps the code of a HAL error and calls an uncoded error INTERNAL', () => {
    const hal = Object.assign(new Error('no GPIO chip labelled pinctrl-rp1 (seen: gpio-mockup)'), { code: 'GPIO_CHIP_NOT_FOUND' });
    expect(describeError(hal)).toBe('GPIO_CHIP_NOT_FOUND: no GPIO chip labelled pinctrl-rp1 (seen: gpio-mockup)');
    expect(describeError(new Error('boom'))).toBe('INTERNAL: boom');
  });
});
