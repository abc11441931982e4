import type { Logger } from 'pino';
import { SystemClock } from './clock/system-clock.js';
import { parseHardwareConfig } from './hardware-config.js';
import type { GpioPinFactory } from './real/gpio-pin.js';
import type { SerialPortOpener } from './real/serial-connection.js';
import { createSimulatedHardware, type SimulatedLockerControl } from './sim/simulated-hardware.js';
import type { Clock, LockerHardware } from './types.js';

export interface CreateHardwareDeps {
  /** Defaults to the system clock (a running simulator wants real time); tests pass a FakeClock. */
  clock?: Clock;
  /** Defaults to onoff; tests pass an InMemoryGpio. */
  gpioFactory?: GpioPinFactory;
  /** Defaults to serialport's SerialPort; tests pass SerialPortMock or a PTY opener. */
  openPort?: SerialPortOpener;
  logger?: Logger;
}

export type CreatedHardware =
  | { kind: 'simulated'; hardware: LockerHardware; control: SimulatedLockerControl }
  | { kind: 'real'; hardware: LockerHardware };

/**
 * The one place that chooses drivers. `config` is untrusted (validated here). Real drivers
 * are imported lazily so a machine without GPIO or serial can still run the simulator,
 * and fails with HalError GPIO_UNAVAILABLE / SERIAL_OPEN_FAILED instead of at import.
 */
export async function createHardware(config: unknown, deps: CreateHardwareDeps = {}): Promise<CreatedHardware> {
  const parsed = parseHardwareConfig(config);
  if (parsed.kind === 'simulated') {
    const { hardware, control } = createSimulatedHardware({
      compartments: parsed.compartments.map((c) => ({
        id: c.id,
        ...(c.behaviour === undefined ? {} : { behaviour: withoutUndefined(c.behaviour) }),
      })),
      clock: deps.clock ?? new SystemClock(),
      maxPulseMs: parsed.maxPulseMs,
      pulseMs: parsed.pulseMs,
      debounceMs: parsed.debounceMs,
      scannerMaxLength: parsed.scannerMaxLength,
      ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    });
    return { kind: 'simulated', hardware, control };
  }
  const { createRealHardware } = await import('./real/real-hardware.js');
  const hardware = await createRealHardware(parsed, {
    clock: deps.clock ?? new SystemClock(),
    ...(deps.gpioFactory === undefined ? {} : { gpioFactory: deps.gpioFactory }),
    ...(deps.openPort === undefined ? {} : { openPort: deps.openPort }),
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
  });
  return { kind: 'real', hardware };
}

function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
