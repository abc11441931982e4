import type { Logger } from 'pino';
import { DebouncedDoorSensors } from '../debounced-door-sensors.js';
import type { Clock, DoorState } from '../types.js';
import type { GpioPin, GpioPinFactory, PinValue } from './gpio-pin.js';

export interface GpioDoorSensorsOptions {
  /** Compartment id → GPIO number of its door switch; logical 1 = door open. */
  doors: ReadonlyMap<string, number>;
  activeLow: boolean;
  clock: Clock;
  gpio: GpioPinFactory;
  debounceMs?: number;
  unstableAfterMs?: number;
  /** onoff's own edge debounce; ours (with the injected clock) is the one that decides. */
  gpioDebounceMs?: number;
  logger?: Logger;
}

const toState = (value: PinValue): DoorState => (value === 1 ? 'open' : 'closed');

/**
 * Door switches on GPIO inputs. Edges feed the shared debouncer; a read or watch error
 * feeds 'unknown' so a broken input is reported, never mistaken for a closed door.
 */
export class GpioDoorSensors extends DebouncedDoorSensors {
  private readonly pins = new Map<string, GpioPin>();

  constructor(options: GpioDoorSensorsOptions) {
    const pins = new Map<string, GpioPin>();
    const initial = new Map<string, DoorState>();
    for (const [id, pinNumber] of options.doors) {
      const pin = options.gpio.input(pinNumber, {
        activeLow: options.activeLow,
        debounceTimeoutMs: options.gpioDebounceMs ?? 0,
      });
      pins.set(id, pin);
      initial.set(id, readState(pin, id, options.logger));
    }
    super({
      clock: options.clock,
      initial,
      ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
      ...(options.unstableAfterMs === undefined ? {} : { unstableAfterMs: options.unstableAfterMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    for (const [id, pin] of pins) {
      this.pins.set(id, pin);
      try {
        pin.watch((error, value) => {
          if (error) {
            options.logger?.warn({ compartmentId: id, err: error }, 'door.sensor_error');
            this.sample(id, 'unknown');
            return;
          }
          this.sample(id, toState(value));
        });
      } catch (error) {
        // Without edges the periodic poll still tracks the door; do not fail the locker.
        options.logger?.error({ compartmentId: id, err: error }, 'door.watch_failed');
      }
    }
  }

  /** Re-reads every input, for a periodic check that catches a missed edge. */
  poll(): void {
    for (const [id, pin] of this.pins) this.sample(id, readState(pin, id, undefined));
  }

  close(): void {
    this.dispose();
    for (const pin of this.pins.values()) {
      try {
        pin.unexport();
      } catch {
        // Releasing a pin on shutdown is best effort.
      }
    }
  }
}

function readState(pin: GpioPin, id: string, logger: Logger | undefined): DoorState {
  try {
    return toState(pin.read());
  } catch (error) {
    logger?.warn({ compartmentId: id, err: error }, 'door.sensor_error');
    return 'unknown';
  }
}
