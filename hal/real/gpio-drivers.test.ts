import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock/fake-clock.js';
import { isHalError } from '../hal-error.js';
import { GpioDoorSensors } from './gpio-door-sensors.js';
import { GpioRelayBank } from './gpio-relay-bank.js';
import { InMemoryGpio } from './in-memory-gpio.js';

const relays = new Map([['A01', 5], ['A02', 6]]);

describe('GPIO relay bank', () => {
  it('drives every relay pin off as soon as it is constructed', () => {
    const gpio = new InMemoryGpio();
    new GpioRelayBank({ relays, activeLow: true, maxPulseMs: 500, clock: new FakeClock(), gpio });
    expect(gpio.writes(5).every((v) => v === 0)).toBe(true);
    expect(gpio.level(5)).toBe(1);
    expect(gpio.level(6)).toBe(1);
  });

  it('still forces the relay off and rejects RELAY_FAULT when switching off fails once', async () => {
    const gpio = new InMemoryGpio();
    const clock = new FakeClock();
    const bank = new GpioRelayBank({ relays, activeLow: false, maxPulseMs: 500, clock, gpio });
    const pulse = bank.pulse('A01', 100);
    gpio.failNextWrites(5, 1);
    clock.advance(100);
    await expect(pulse).rejects.toSatisfy((e) => isHalError(e, 'RELAY_FAULT'));
    expect(gpio.isActive(5)).toBe(false);
  });

  it('rejects RELAY_FAULT and stays off when the relay cannot be switched on', async () => {
    const gpio = new InMemoryGpio();
    const bank = new GpioRelayBank({ relays, activeLow: false, maxPulseMs: 500, clock: new FakeClock(), gpio });
    gpio.failNextWrites(5, 1);
    await expect(bank.pulse('A01', 100)).rejects.toSatisfy((e) => isHalError(e, 'RELAY_FAULT'));
    expect(gpio.isActive(5)).toBe(false);
    expect(gpio.writes(5).at(-1)).toBe(0);
  });

  it('releases the pins it already exported when a later pin cannot be exported', () => {
    const gpio = new InMemoryGpio();
    gpio.output(6, { activeLow: false });
    expect(
      () => new GpioRelayBank({ relays, activeLow: false, maxPulseMs: 500, clock: new FakeClock(), gpio }),
    ).toThrow(/EBUSY/);
    expect(gpio.isExported(5)).toBe(false);
  });

  it('unexports its pins on close and keeps them off', async () => {
    const gpio = new InMemoryGpio();
    const bank = new GpioRelayBank({ relays, activeLow: false, maxPulseMs: 500, clock: new FakeClock(), gpio });
    const cut = bank.pulse('A02', 400);
    await bank.close();
    await expect(cut).rejects.toSatisfy((e) => isHalError(e, 'HAL_CLOSED'));
    expect(gpio.level(6)).toBe(0);
    expect(gpio.isExported(6)).toBe(false);
  });
});

describe('GPIO door sensors', () => {
  it('applies activeLow: a low input on an active-low switch means open', () => {
    const gpio = new InMemoryGpio();
    const clock = new FakeClock();
    const sensors = new GpioDoorSensors({ doors: new Map([['A01', 20]]), activeLow: true, clock, gpio });
    expect(sensors.read('A01')).toBe('closed');
    gpio.setLevel(20, 0);
    clock.advance(50);
    expect(sensors.read('A01')).toBe('open');
  });

  it('reads unknown at start when the input cannot be read, and recovers through poll()', () => {
    const gpio = new InMemoryGpio();
    const clock = new FakeClock();
    const failing = {
      output: gpio.output.bind(gpio),
      input: (pin: number, o: { activeLow: boolean; debounceTimeoutMs: number }) => {
        const p = gpio.input(pin, o);
        gpio.failIo(pin, new Error('EIO'));
        return p;
      },
    };
    const sensors = new GpioDoorSensors({ doors: new Map([['A01', 20]]), activeLow: false, clock, gpio: failing });
    expect(sensors.read('A01')).toBe('unknown');
    gpio.failIo(20, undefined);
    sensors.poll();
    clock.advance(50);
    expect(sensors.read('A01')).toBe('closed');
  });

  it('catches a missed edge with poll()', () => {
    const gpio = new InMemoryGpio();
    const clock = new FakeClock();
    const sensors = new GpioDoorSensors({ doors: new Map([['A01', 20]]), activeLow: false, clock, gpio });
    gpio.setLevelWithoutEdge(20, 1);
    clock.advance(100);
    expect(sensors.read('A01')).toBe('closed');
    sensors.poll();
    clock.advance(50);
    expect(sensors.read('A01')).toBe('open');
  });

  it('unexports its pins on close', () => {
    const gpio = new InMemoryGpio();
    const sensors = new GpioDoorSensors({ doors: new Map([['A01', 20]]), activeLow: false, clock: new FakeClock(), gpio });
    sensors.close();
    expect(gpio.isExported(20)).toBe(false);
  });
});
