import type { Logger } from 'pino';
import { SystemClock } from '../clock/system-clock.js';
import { DebouncedDoorSensors } from '../debounced-door-sensors.js';
import { HalError } from '../hal-error.js';
import { type PulseRecord, PulsedRelayBank } from '../pulsed-relay-bank.js';
import type { Clock, LockerHardware } from '../types.js';
import { type CompartmentBehaviour, CompartmentModel, type SimFault } from './compartment-model.js';
import { SimulatedIndicator } from './simulated-indicator.js';
import { SimulatedKeypad } from './simulated-keypad.js';
import { SimulatedScanner } from './simulated-scanner.js';

export const DEFAULT_MAX_PULSE_MS = 2000;

export interface SimulatedHardwareOptions {
  compartments: ReadonlyArray<{ id: string; behaviour?: Partial<CompartmentBehaviour> }>;
  /** Defaults to the system clock; tests pass a FakeClock. */
  clock?: Clock;
  maxPulseMs?: number;
  /** Solenoid pull-in time: a pulse shorter than this never releases the latch. Default 0. */
  pulseMs?: number;
  debounceMs?: number;
  /** Bouncing longer than this without settling reads 'unknown'. Default 500. */
  unstableAfterMs?: number;
  /** Behaviour every compartment starts with (autoOpenOnPulse on, autoClose off). */
  defaultBehaviour?: Partial<CompartmentBehaviour>;
  scannerMaxLength?: number;
  /** Pulse records and indicator events kept (oldest dropped), so a long simulator run stays bounded. Default 10 000. */
  historyLimit?: number;
  logger?: Logger;
}

/** The simulator's and tests' handle on the simulated world behind LockerHardware. */
export interface SimulatedLockerControl {
  readonly clock: Clock;
  readonly keypad: SimulatedKeypad;
  readonly scanner: SimulatedScanner;
  readonly indicator: SimulatedIndicator;
  compartmentIds(): readonly string[];
  /** A person pulls the door; true if it is open afterwards. */
  pullDoor(compartmentId: string): boolean;
  closeDoor(compartmentId: string): void;
  doorIsOpen(compartmentId: string): boolean;
  latched(compartmentId: string): boolean;
  energised(compartmentId: string): boolean;
  behaviour(compartmentId: string): CompartmentBehaviour;
  setBehaviour(compartmentId: string, change: Partial<CompartmentBehaviour>): void;
  injectFault(compartmentId: string, fault: SimFault): void;
  /** Clears one fault, or every fault of the compartment when `fault` is omitted. */
  clearFault(compartmentId: string, fault?: SimFault): void;
  faults(compartmentId: string): readonly SimFault[];
  /** Every pulse so far, in start order (endedAt undefined while energised), optionally for one compartment. */
  pulses(compartmentId?: string): readonly PulseRecord[];
}

export interface SimulatedHardware {
  hardware: LockerHardware;
  control: SimulatedLockerControl;
}

/** Builds simulated hardware: same contract as the real drivers, fully observable. */
export function createSimulatedHardware(options: SimulatedHardwareOptions): SimulatedHardware {
  const clock = options.clock ?? new SystemClock();
  const debounceMs = options.debounceMs ?? 50;
  const ids = options.compartments.map((c) => c.id);
  if (new Set(ids).size !== ids.length) {
    throw new HalError('CONFIG_INVALID', 'compartment ids must be unique');
  }
  const models = new Map<string, CompartmentModel>();
  for (const c of options.compartments) {
    models.set(
      c.id,
      new CompartmentModel({
        id: c.id,
        clock,
        behaviour: {
          autoOpenOnPulse: true,
          autoCloseAfterMs: undefined,
          ...options.defaultBehaviour,
          ...c.behaviour,
        },
        pullInMs: options.pulseMs ?? 0,
        bouncePeriodMs: Math.max(1, Math.floor(debounceMs / 5)),
      }),
    );
  }
  const model = (id: string): CompartmentModel => {
    const m = models.get(id);
    if (m === undefined) throw new HalError('RELAY_UNKNOWN_COMPARTMENT', `no simulated compartment ${id}`);
    return m;
  };

  const historyLimit = options.historyLimit ?? 10_000;
  const records: PulseRecord[] = [];
  const relays = new PulsedRelayBank({
    compartments: ids,
    maxPulseMs: options.maxPulseMs ?? DEFAULT_MAX_PULSE_MS,
    clock,
    outputs: { on: (id) => model(id).energise(), off: (id) => model(id).deEnergise() },
    onPulseStarted: (record) => {
      records.push(record);
      if (records.length > historyLimit) records.shift();
    },
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const doors = new DebouncedDoorSensors({
    clock,
    initial: new Map(ids.map((id) => [id, model(id).rawSensor()])),
    debounceMs,
    ...(options.unstableAfterMs === undefined ? {} : { unstableAfterMs: options.unstableAfterMs }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  for (const m of models.values()) m.onRawChange((raw) => doors.sample(m.id, raw));

  const keypad = new SimulatedKeypad(clock, options.logger);
  const scanner = new SimulatedScanner(clock, {
    ...(options.scannerMaxLength === undefined ? {} : { maxLength: options.scannerMaxLength }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const indicator = new SimulatedIndicator(clock, historyLimit);

  let closed = false;
  const hardware: LockerHardware = {
    kind: 'simulated',
    relays,
    doors,
    keypad,
    scanner,
    indicator,
    clock,
    async close() {
      if (closed) return;
      closed = true;
      await relays.close();
      doors.dispose();
      for (const m of models.values()) m.dispose();
    },
  };

  const control: SimulatedLockerControl = {
    clock,
    keypad,
    scanner,
    indicator,
    compartmentIds: () => [...ids],
    pullDoor: (id) => model(id).pullDoor(),
    closeDoor: (id) => model(id).closeDoor(),
    doorIsOpen: (id) => model(id).doorIsOpen,
    latched: (id) => model(id).latched,
    energised: (id) => model(id).energised,
    behaviour: (id) => model(id).behaviour(),
    setBehaviour: (id, change) => model(id).setBehaviour(change),
    injectFault: (id, fault) => model(id).injectFault(fault),
    clearFault: (id, fault) => model(id).clearFault(fault),
    faults: (id) => model(id).faults(),
    pulses: (id) => records.filter((r) => id === undefined || r.compartmentId === id).map((r) => ({ ...r })),
  };
  return { hardware, control };
}
