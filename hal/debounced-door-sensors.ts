import type { Logger } from 'pino';
import { DoorDebouncer } from './door-debouncer.js';
import { Listeners } from './listeners.js';
import type { Clock, DoorChange, DoorSensors, DoorState, Unsubscribe } from './types.js';

export const DEFAULT_DEBOUNCE_MS = 50;
export const DEFAULT_UNSTABLE_AFTER_MS = 500;

export interface DebouncedDoorSensorsOptions {
  clock: Clock;
  /** Compartment id → first raw reading. */
  initial: ReadonlyMap<string, DoorState>;
  debounceMs?: number;
  unstableAfterMs?: number;
  logger?: Logger;
}

/**
 * DoorSensors over raw samples pushed in by a driver (GPIO edges or the simulated
 * mechanics). The first reading is taken as settled, so the runtime knows at boot whether
 * a door was left open; every later change goes through the debouncer.
 */
export class DebouncedDoorSensors implements DoorSensors {
  private readonly debouncers = new Map<string, DoorDebouncer>();
  private readonly listeners: Listeners<DoorChange>;

  constructor(options: DebouncedDoorSensorsOptions) {
    const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    const unstableAfterMs = Math.max(
      options.unstableAfterMs ?? DEFAULT_UNSTABLE_AFTER_MS,
      debounceMs * 2,
    );
    this.listeners = new Listeners<DoorChange>((error) =>
      options.logger?.error({ err: error }, 'door.listener_failed'),
    );
    for (const [compartmentId, initial] of options.initial) {
      const debouncer = new DoorDebouncer({
        clock: options.clock,
        debounceMs,
        unstableAfterMs,
        initial,
        onSettled: (state) =>
          this.listeners.emit({ compartmentId, state, at: options.clock.now() }),
      });
      this.debouncers.set(compartmentId, debouncer);
    }
  }

  read(compartmentId: string): DoorState {
    // An id without a sensor is reported as untrustworthy rather than thrown: read() is
    // called from event handlers, which must never throw.
    return this.debouncers.get(compartmentId)?.state ?? 'unknown';
  }

  onChange(listener: (change: DoorChange) => void): Unsubscribe {
    return this.listeners.add(listener);
  }

  compartments(): readonly string[] {
    return [...this.debouncers.keys()];
  }

  /** Feeds one raw reading; ignored for an unknown compartment. */
  sample(compartmentId: string, raw: DoorState): void {
    this.debouncers.get(compartmentId)?.sample(raw);
  }

  dispose(): void {
    for (const debouncer of this.debouncers.values()) debouncer.dispose();
  }
}
