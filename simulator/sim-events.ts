import type { SimulatedLockerControl } from '@locker/hal/sim/simulated-hardware.js';
import type {
  BeepPattern, DisplayMessage, DoorState, Indicator, InputRejection, LockerHardware, RelayBank, Unsubscribe,
} from '@locker/hal/types.js';

// What happened at the simulated locker, as the person standing in front of it (or a
// technician with a multimeter) would notice it. The runtime gets a LockerHardware whose
// indicator and relays are decorated to report here; door changes and input rejections
// come from the drivers' own listeners. Nothing here changes what the runtime sees.

export type SimEvent =
  | { type: 'display'; message: DisplayMessage; at: number }
  | { type: 'beep'; pattern: BeepPattern; at: number }
  /**
   * The relay really energised (never announced for a relay that could not be driven).
   * `latchReleased`: the latch let go at once; `doorBlocked`: a fault keeps the door shut anyway.
   */
  | { type: 'pulse'; compartmentId: string; ms: number; latchReleased: boolean; doorBlocked: boolean; at: number }
  /** The relay is off again after a pulse it did energise. */
  | { type: 'pulse-ended'; compartmentId: string; at: number }
  /** The pulse failed; `energised` says whether the relay was on at all before it failed. */
  | { type: 'pulse-failed'; compartmentId: string; energised: boolean; at: number }
  | { type: 'door'; compartmentId: string; state: DoorState; at: number }
  | { type: 'input-rejected'; rejection: InputRejection; at: number };

/** A listener set that never lets one listener's exception reach the driver that emitted. */
export class EventFeed {
  private readonly listeners = new Set<(event: SimEvent) => void>();
  private readonly recent: SimEvent[] = [];

  constructor(private readonly keep = 200) {}

  on(listener: (event: SimEvent) => void): Unsubscribe {
    const entry = (event: SimEvent): void => listener(event);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(event: SimEvent): void {
    this.recent.push(event);
    if (this.recent.length > this.keep) this.recent.shift();
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A printing bug must not break the hardware path that emitted the event.
      }
    }
  }

  /** The last events (at most `keep`), oldest first. */
  history(): readonly SimEvent[] {
    return [...this.recent];
  }
}

class ObservedIndicator implements Indicator {
  constructor(
    private readonly inner: Indicator,
    private readonly feed: EventFeed,
    private readonly now: () => number,
  ) {}

  show(message: DisplayMessage): void {
    this.inner.show(message);
    this.feed.emit({ type: 'display', message: { ...message }, at: this.now() });
  }

  beep(pattern: BeepPattern): void {
    this.inner.beep(pattern);
    this.feed.emit({ type: 'beep', pattern, at: this.now() });
  }
}

class ObservedRelays implements RelayBank {
  readonly maxPulseMs: number;

  constructor(
    private readonly inner: RelayBank,
    private readonly feed: EventFeed,
    private readonly now: () => number,
    private readonly control: SimulatedLockerControl,
  ) {
    this.maxPulseMs = inner.maxPulseMs;
  }

  /**
   * Reports what the relay did, not what was asked: 'pulse' only once the coil is
   * energised (the bank does that synchronously when the compartment is idle, later when
   * queued), 'pulse-failed' once, saying whether it had energised at all.
   */
  /** Pulses whose coil is on now, to report them off when the power goes. */
  private readonly live = new Map<string, () => void>();

  /** The power is gone: every energised coil drops out now (reported once, now, not when its timer ends). */
  powerLost(): void {
    for (const end of [...this.live.values()]) end();
  }

  async pulse(compartmentId: string, ms: number): Promise<void> {
    let energised = false;
    let ended = false;
    const end = (): void => {
      if (!energised || ended) return;
      ended = true;
      this.live.delete(compartmentId);
      this.feed.emit({ type: 'pulse-ended', compartmentId, at: this.now() });
    };
    const announce = (): void => {
      if (energised) return;
      energised = true;
      const faults = this.control.faults(compartmentId);
      this.feed.emit({
        type: 'pulse', compartmentId, ms: Math.min(ms, this.maxPulseMs),
        latchReleased: !this.control.latched(compartmentId) || this.control.doorIsOpen(compartmentId),
        doorBlocked: faults.includes('door-jammed') || faults.includes('stuck-relay'),
        at: this.now(),
      });
      this.live.set(compartmentId, end);
    };
    const pulse = this.inner.pulse(compartmentId, ms);
    if (this.control.energised(compartmentId)) announce();
    try {
      await pulse;
    } catch (err) {
      // The simulator sees the coil: whether it energised is a fact here, not a guess.
      if (!ended) this.feed.emit({ type: 'pulse-failed', compartmentId, energised, at: this.now() });
      end();
      throw err;
    }
    announce();
    end();
  }

  allOff(): Promise<void> {
    return this.inner.allOff();
  }

  compartments(): readonly string[] {
    return this.inner.compartments();
  }
}

/**
 * The hardware the runtime is given: the same drivers, with the indicator and relays
 * reporting to `feed`. Returns the subscriptions to drop when the locker stops.
 */
export function observeHardware(
  hardware: LockerHardware,
  feed: EventFeed,
  control: SimulatedLockerControl,
): { hardware: LockerHardware; detach: Unsubscribe; powerLost: () => void } {
  const now = (): number => hardware.clock.now();
  const subscriptions = [
    hardware.doors.onChange((change) =>
      feed.emit({ type: 'door', compartmentId: change.compartmentId, state: change.state, at: change.at }),
    ),
    hardware.keypad.onRejected((rejection) => feed.emit({ type: 'input-rejected', rejection, at: rejection.at })),
    hardware.scanner.onRejected((rejection) => feed.emit({ type: 'input-rejected', rejection, at: rejection.at })),
  ];
  const relays = new ObservedRelays(hardware.relays, feed, now, control);
  const observed: LockerHardware = {
    kind: hardware.kind,
    relays,
    doors: hardware.doors,
    keypad: hardware.keypad,
    scanner: hardware.scanner,
    indicator: new ObservedIndicator(hardware.indicator, feed, now),
    clock: hardware.clock,
    close: () => hardware.close(),
  };
  return {
    hardware: observed,
    powerLost: () => relays.powerLost(),
    detach: () => {
      for (const unsubscribe of subscriptions) unsubscribe();
    },
  };
}
