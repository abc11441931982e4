import { describe, expect, it } from 'vitest';
import { isHalError } from './hal-error.js';
import { parseHardwareConfig } from './hardware-config.js';

const real = {
  kind: 'real',
  compartments: [{ id: 'A01', relayPin: 5, doorPin: 6 }],
  keypad: { path: '/dev/ttyUSB0' },
  scanner: { path: '/dev/ttyACM0', baudRate: 115200 },
  display: { path: '/dev/ttyUSB1' },
};

describe('hardware config', () => {
  it('fills in the defaults of a minimal simulated config', () => {
    expect(parseHardwareConfig({ kind: 'simulated', compartments: [{ id: 'A01' }] })).toEqual({
      kind: 'simulated',
      compartments: [{ id: 'A01' }],
      maxPulseMs: 2000,
      debounceMs: 50,
      pulseMs: 0,
      scannerMaxLength: 2048,
    });
  });

  it('fills in the defaults of a minimal real config', () => {
    const config = parseHardwareConfig(real);
    if (config.kind !== 'real') throw new Error('expected real');
    expect(config.relayActiveLow).toBe(false);
    expect(config.keypad).toEqual({ path: '/dev/ttyUSB0', baudRate: 9600 });
    expect(config.scanner.maxLength).toBe(2048);
    expect(config.display.maxTextLength).toBe(64);
    expect(config.reconnect).toEqual({ initialMs: 500, maxMs: 30_000 });
    expect(config.gpioChip).toEqual({ sysfsRoot: '/sys/class/gpio' });
  });

  const invalid: Array<[string, unknown]> = [
    ['a missing kind', { compartments: [{ id: 'A01' }] }],
    ['an unknown kind', { kind: 'quantum', compartments: [{ id: 'A01' }] }],
    ['no compartments', { kind: 'simulated', compartments: [] }],
    ['a compartment id with spaces', { kind: 'simulated', compartments: [{ id: 'A 01' }] }],
    ['duplicate simulated ids', { kind: 'simulated', compartments: [{ id: 'A01' }, { id: 'A01' }] }],
    ['a zero maxPulseMs', { kind: 'simulated', compartments: [{ id: 'A01' }], maxPulseMs: 0 }],
    ['an unknown field (a typo must not be silently ignored)', { kind: 'simulated', compartments: [{ id: 'A01' }], debounce: 5 }],
    ['a real config without a keypad', { ...real, keypad: undefined }],
    ['a negative GPIO pin', { ...real, compartments: [{ id: 'A01', relayPin: -1, doorPin: 6 }] }],
    ['one pin used twice', { ...real, compartments: [{ id: 'A01', relayPin: 5, doorPin: 6 }, { id: 'A02', relayPin: 6, doorPin: 7 }] }],
    ['duplicate real ids', { ...real, compartments: [{ id: 'A01', relayPin: 5, doorPin: 6 }, { id: 'A01', relayPin: 7, doorPin: 8 }] }],
  ];
  it.each(invalid)('rejects %s with CONFIG_INVALID', (_name, input) => {
    expect(() => parseHardwareConfig(input)).toThrow(expect.toSatisfy((e) => isHalError(e, 'CONFIG_INVALID')));
  });
});
