import type { Logger } from 'pino';
import type { RealHardwareConfig } from '../hardware-config.js';
import type { Clock, LockerHardware } from '../types.js';
import type { GpioPinFactory } from './gpio-pin.js';
import { GpioDoorSensors } from './gpio-door-sensors.js';
import { GpioRelayBank } from './gpio-relay-bank.js';
import { createOnoffGpioFactory } from './onoff-gpio.js';
import type { SerialPortOpener } from './serial-connection.js';
import { SerialIndicator } from './serial-indicator.js';
import { SerialKeypad } from './serial-keypad.js';
import { SerialScanner } from './serial-scanner.js';
import { chipMappedGpioFactory, findGpioChip } from './sysfs-gpio-chip.js';

export interface RealHardwareDeps {
  clock: Clock;
  /** Takes line offsets as the config has them; defaults to createBoardGpioFactory. */
  gpioFactory?: GpioPinFactory;
  openPort?: SerialPortOpener;
  logger?: Logger;
}

/** Re-reads the door inputs this often in case an edge interrupt was missed. */
const DOOR_POLL_MS = 1000;

/**
 * The board's pin factory: onoff (or `sysfs`, for tests) behind the chip mapping, so the
 * drivers speak line offsets and onoff gets the sysfs numbers (base + offset).
 */
export async function createBoardGpioFactory(
  config: RealHardwareConfig,
  options: { sysfs?: GpioPinFactory; logger?: Logger } = {},
): Promise<GpioPinFactory> {
  const chip = findGpioChip(config.gpioChip);
  const offsets = config.compartments.flatMap((c) => [c.relayPin, c.doorPin]);
  // Checked before onoff is loaded: a wrong chip or line fails with its own clear code.
  const mapped = chipMappedGpioFactory(options.sysfs ?? (await createOnoffGpioFactory()), chip, offsets);
  options.logger?.info({ chip: chip.name, label: chip.label, base: chip.base, ngpio: chip.ngpio }, 'hal.gpio-chip-mapped');
  return mapped;
}

/** Wires the GPIO and serial drivers from a validated config. */
export async function createRealHardware(config: RealHardwareConfig, deps: RealHardwareDeps): Promise<LockerHardware> {
  const { clock, logger } = deps;
  const gpio = deps.gpioFactory ?? (await createBoardGpioFactory(config, logger === undefined ? {} : { logger }));
  const child = (component: string): { logger?: Logger } =>
    logger === undefined ? {} : { logger: logger.child({ component }) };

  const relays = new GpioRelayBank({
    relays: new Map(config.compartments.map((c) => [c.id, c.relayPin])),
    activeLow: config.relayActiveLow,
    maxPulseMs: config.maxPulseMs,
    clock,
    gpio,
    ...child('relays'),
  });
  let doors: GpioDoorSensors;
  try {
    doors = new GpioDoorSensors({
      doors: new Map(config.compartments.map((c) => [c.id, c.doorPin])),
      activeLow: config.doorActiveLow,
      clock,
      gpio,
      debounceMs: config.debounceMs,
      gpioDebounceMs: config.gpioDebounceMs,
      ...child('doors'),
    });
  } catch (error) {
    await relays.close();
    throw error;
  }
  const serial = {
    clock,
    initialBackoffMs: config.reconnect.initialMs,
    maxBackoffMs: config.reconnect.maxMs,
    ...(deps.openPort === undefined ? {} : { openPort: deps.openPort }),
  };
  const keypad = new SerialKeypad({ ...config.keypad, ...serial, ...child('keypad') });
  const scanner = new SerialScanner({ ...config.scanner, ...serial, ...child('scanner') });
  const indicator = new SerialIndicator({ ...config.display, ...serial, ...child('display') });
  keypad.start();
  scanner.start();
  indicator.start();

  let pollTimer = clock.setTimeout(function poll() {
    doors.poll();
    pollTimer = clock.setTimeout(poll, DOOR_POLL_MS);
  }, DOOR_POLL_MS);

  let closed = false;
  return {
    kind: 'real',
    relays,
    doors,
    keypad,
    scanner,
    indicator,
    clock,
    async close() {
      if (closed) return;
      closed = true;
      clock.clearTimeout(pollTimer);
      await relays.close();
      doors.close();
      await Promise.all([keypad.stop(), scanner.stop(), indicator.stop()]);
    },
  };
}
