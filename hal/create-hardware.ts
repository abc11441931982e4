import type { Logger } from 'pino';
import { SystemClock } from './clock/system-clock.js';
import { parseHardwareConfig, type SimulatedHardwareConfig } from './hardware-config.js';
import type { GpioPinFactory } from './real/gpio-pin.js';
import type { SerialPortOpener } from './real/serial-connection.js';
import { createSimulatedHardware, type SimulatedLockerControl } from './sim/simulated-hardware.js';
import type { Clock, Keypad, LockerHardware, Scanner } from './types.js';

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
    if (parsed.keypad === undefined && parsed.scanner === undefined) return { kind: 'simulated', hardware, control };
    return { kind: 'simulated', hardware: await withBenchInputs(hardware, parsed, deps), control };
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

/** Reconnect backoff of bench serial inputs: a keypad plugged in on the bench is picked up within seconds. */
const BENCH_BACKOFF = { initialBackoffMs: 500, maxBackoffMs: 5_000 };

/**
 * Simulated hardware whose keypad and/or scanner are real serial drivers (bench mode). The
 * serial drivers are imported lazily, as for the real hardware, so a simulator without
 * bench inputs never loads serialport.
 */
async function withBenchInputs(hardware: LockerHardware, config: SimulatedHardwareConfig, deps: CreateHardwareDeps): Promise<LockerHardware> {
  const serial = {
    clock: hardware.clock,
    ...BENCH_BACKOFF,
    ...(deps.openPort === undefined ? {} : { openPort: deps.openPort }),
  };
  const child = (component: string): { logger?: Logger } =>
    deps.logger === undefined ? {} : { logger: deps.logger.child({ component }) };
  type Started = { start(): void; stop(): Promise<void> };
  let keypad: (Keypad & Started) | undefined;
  let scanner: (Scanner & Started) | undefined;
  if (config.keypad !== undefined) {
    const { SerialKeypad } = await import('./real/serial-keypad.js');
    keypad = new SerialKeypad({ ...config.keypad, ...serial, ...child('keypad') });
  }
  if (config.scanner !== undefined) {
    const { SerialScanner } = await import('./real/serial-scanner.js');
    scanner = new SerialScanner({ ...config.scanner, ...serial, ...child('scanner') });
  }
  keypad?.start();
  scanner?.start();
  deps.logger?.info({ keypad: config.keypad?.path, scanner: config.scanner?.path }, 'hal.bench-inputs');
  let closed = false;
  return {
    ...hardware,
    keypad: keypad ?? hardware.keypad,
    scanner: scanner ?? hardware.scanner,
    async close() {
      if (closed) return;
      closed = true;
      await hardware.close();
      await Promise.all([keypad?.stop(), scanner?.stop()]);
    },
  };
}

function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
