import { SerialPortMock } from 'serialport';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from './clock/fake-clock.js';
import { createHardware } from './create-hardware.js';
import { isHalError } from './hal-error.js';
import { InMemoryGpio } from './real/in-memory-gpio.js';

const realConfig = {
  kind: 'real',
  compartments: [
    { id: 'A01', relayPin: 5, doorPin: 6 },
    { id: 'A02', relayPin: 13, doorPin: 19 },
  ],
  relayActiveLow: true,
  keypad: { path: '/dev/mock-keypad' },
  scanner: { path: '/dev/mock-scanner', baudRate: 115200 },
  display: { path: '/dev/mock-display' },
};

describe('createHardware', () => {
  afterEach(() => SerialPortMock.binding.reset());

  it('builds simulated hardware with its control object from a simulated config', async () => {
    const clock = new FakeClock();
    const created = await createHardware({ kind: 'simulated', compartments: [{ id: 'A01' }] }, { clock });
    expect(created.kind).toBe('simulated');
    if (created.kind !== 'simulated') return;
    expect(created.hardware.relays.compartments()).toEqual(['A01']);
    expect(created.hardware.relays.maxPulseMs).toBe(2000);
    const pulse = created.hardware.relays.pulse('A01', 100);
    clock.advance(100);
    await pulse;
    expect(created.control.pulses()).toHaveLength(1);
    await created.hardware.close();
  });

  it('honours per-compartment behaviour from the config', async () => {
    const created = await createHardware(
      { kind: 'simulated', compartments: [{ id: 'A01', behaviour: { autoOpenOnPulse: false } }] },
      { clock: new FakeClock() },
    );
    if (created.kind !== 'simulated') throw new Error('expected simulated');
    expect(created.control.behaviour('A01')).toEqual({ autoOpenOnPulse: false, autoCloseAfterMs: undefined });
  });

  it('reads keys and scans from serial ports in bench mode while the compartments stay simulated', async () => {
    for (const path of ['/dev/bench-keypad', '/dev/bench-scanner']) SerialPortMock.binding.createPort(path);
    const opened = new Map<string, SerialPortMock>();
    const clock = new FakeClock();
    const created = await createHardware(
      { kind: 'simulated', compartments: [{ id: 'A01' }], keypad: { path: '/dev/bench-keypad' }, scanner: { path: '/dev/bench-scanner', maxLength: 32 } },
      {
        clock,
        openPort: (o) => {
          const port = new SerialPortMock({ ...o, autoOpen: false });
          opened.set(o.path, port);
          return port;
        },
      },
    );
    if (created.kind !== 'simulated') throw new Error('expected simulated');
    const keys: string[] = [];
    const scans: string[] = [];
    created.hardware.keypad.onKey((k) => keys.push(k.key));
    created.hardware.scanner.onScan((s) => scans.push(s.data));
    await vi.waitFor(() => expect([...opened.values()].every((p) => p.isOpen)).toBe(true));
    opened.get('/dev/bench-keypad')?.port?.emitData(Buffer.from('42#'));
    opened.get('/dev/bench-scanner')?.port?.emitData(Buffer.from('PARCEL-1\n'));
    await vi.waitFor(() => expect(keys).toEqual(['4', '2', 'enter']));
    await vi.waitFor(() => expect(scans).toEqual(['PARCEL-1']));
    expect(created.hardware.scanner.maxLength).toBe(32);
    // The simulated keypad no longer reaches whoever listens on the hardware.
    created.control.keypad.press('9');
    expect(keys).toEqual(['4', '2', 'enter']);
    await created.hardware.close();
    expect([...opened.values()].some((p) => p.isOpen)).toBe(false);
  });

  it('rejects an invalid config with CONFIG_INVALID naming the field', async () => {
    await expect(createHardware({ kind: 'simulated', compartments: [] })).rejects.toSatisfy(
      (e) => isHalError(e, 'CONFIG_INVALID') && e.message.includes('compartments'),
    );
    await expect(createHardware({ kind: 'quantum' })).rejects.toSatisfy((e) => isHalError(e, 'CONFIG_INVALID'));
  });

  it('rejects a real config that uses one GPIO pin twice', async () => {
    const config = { ...realConfig, compartments: [{ id: 'A01', relayPin: 5, doorPin: 5 }] };
    await expect(createHardware(config)).rejects.toSatisfy((e) => isHalError(e, 'CONFIG_INVALID'));
  });

  it('builds real drivers on an injected GPIO factory, relays off from the start', async () => {
    for (const path of ['/dev/mock-keypad', '/dev/mock-scanner', '/dev/mock-display']) {
      SerialPortMock.binding.createPort(path);
    }
    const gpio = new InMemoryGpio();
    const clock = new FakeClock();
    const created = await createHardware(realConfig, {
      clock,
      gpioFactory: gpio,
      openPort: (o) => new SerialPortMock({ ...o, autoOpen: false }),
    });
    expect(created.kind).toBe('real');
    expect(created.hardware.kind).toBe('real');
    expect(gpio.level(5)).toBe(1);
    expect(gpio.isActive(5)).toBe(false);
    const pulse = created.hardware.relays.pulse('A01', 50);
    expect(gpio.isActive(5)).toBe(true);
    clock.advance(50);
    await pulse;
    expect(gpio.isActive(5)).toBe(false);
    await created.hardware.close();
    await created.hardware.close();
    expect(gpio.isExported(5)).toBe(false);
    expect(gpio.isExported(6)).toBe(false);
  });

  it('fails with GPIO_UNAVAILABLE, not a crash, on a machine without GPIO', async () => {
    await expect(createHardware(realConfig, { clock: new FakeClock() })).rejects.toSatisfy((e) =>
      isHalError(e, 'GPIO_UNAVAILABLE'),
    );
  });
});
