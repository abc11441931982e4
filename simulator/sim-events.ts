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
  | { type: 'pulse'; compartmentId: string; ms: number; at: number }
  | { type: 'pulse-failed'; compartmentId: string; at: number }
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
  ) {
    this.maxPulseMs = inner.maxPulseMs;
  }

  async pulse(compartmentId: string, ms: number): Promise<void> {
    this.feed.emit({ type: 'pulse', compartmentId, ms: Math.min(ms, this.maxPulseMs), at: this.now() });
    try {
      await this.inner.pulse(compartmentId, ms);
    } catch (err) {
      this.feed.emit({ type: 'pulse-failed', compartmentId, at: this.now() });
      throw err;
    }
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
export function observeHardware(hardware: LockerHardware, feed: EventFeed): { hardware: LockerHardware; detach: Unsubscribe } {
  const now = (): number => hardware.clock.now();
  const subscriptions = [
    hardware.doors.onChange((change) =>
      feed.emit({ type: 'door', compartmentId: change.compartmentId, state: change.state, at: change.at }),
    ),
    hardware.keypad.onRejected((rejection) => feed.emit({ type: 'input-rejected', rejection, at: rejection.at })),
    hardware.scanner.onRejected((rejection) => feed.emit({ type: 'input-rejected', rejection, at: rejection.at })),
  ];
  const observed: LockerHardware = {
    kind: hardware.kind,
    relays: new ObservedRelays(hardware.relays, feed, now),
    doors: hardware.doors,
    keypad: hardware.keypad,
    scanner: hardware.scanner,
    indicator: new ObservedIndicator(hardware.indicator, feed, now),
    clock: hardware.clock,
    close: () => hardware.close(),
  };
  return {
    hardware: observed,
    detach: () => {
      for (const unsubscribe of subscriptions) unsubscribe();
    },
  };
}
