import type { Clock, LockerHardware, TimerHandle, Unsubscribe } from '@locker/hal/types.js';

// What a power cut takes away from a running device process, in-process: the process's
// view of the hardware goes through this gate, and `cut()` makes that process deaf, blind
// and timeless at once, as SIGKILL would. Its timers never fire, no key, scan or door
// change reaches it, a pulse it started never settles (the process is gone; the relay
// itself loses power, which the physical model below does), and what it writes to the
// display or the relays is ignored. Nothing of the graceful stop path runs. The physical
// world (doors, latches, the other side of the wires) lives on behind the gate, and the
// next boot gets a fresh gate on the same hardware.

export interface PowerGate {
  /** The hardware as this process sees it. */
  readonly hardware: LockerHardware;
  /** The clock as this process sees it (give it to the sync agent too). */
  readonly clock: Clock;
  readonly alive: boolean;
  /** The process dies: every timer dropped, every input and output cut, now. */
  cut(): void;
}

export function powerGate(inner: LockerHardware, clock: Clock): PowerGate {
  let alive = true;
  const timers = new Set<number>();
  const subscriptions = new Set<Unsubscribe>();
  const gatedClock: Clock = {
    now: () => clock.now(),
    monotonicMs: () => clock.monotonicMs(),
    setTimeout: (callback, ms): TimerHandle => {
      if (!alive) return { id: -1 };
      const handle = clock.setTimeout(() => {
        timers.delete(handle.id);
        if (alive) callback();
      }, ms);
      timers.add(handle.id);
      return handle;
    },
    clearTimeout: (handle) => {
      timers.delete(handle.id);
      clock.clearTimeout(handle);
    },
  };
  /** A listener that hears nothing once the process is dead. */
  const listen = <T>(subscribe: (listener: (value: T) => void) => Unsubscribe, listener: (value: T) => void): Unsubscribe => {
    const unsubscribe = subscribe((value) => {
      if (alive) listener(value);
    });
    subscriptions.add(unsubscribe);
    return () => {
      subscriptions.delete(unsubscribe);
      unsubscribe();
    };
  };
  const never = new Promise<void>(() => undefined);
  const hardware: LockerHardware = {
    kind: inner.kind,
    relays: {
      maxPulseMs: inner.relays.maxPulseMs,
      pulse: (id, ms) => {
        if (!alive) return never;
        return new Promise<void>((resolve, reject) => {
          inner.relays.pulse(id, ms).then(
            () => {
              if (alive) resolve();
            },
            (err: unknown) => {
              if (alive) reject(err instanceof Error ? err : new Error(String(err)));
            },
          );
        });
      },
      allOff: () => (alive ? inner.relays.allOff() : Promise.resolve()),
      compartments: () => inner.relays.compartments(),
    },
    doors: {
      read: (id) => inner.doors.read(id),
      onChange: (listener) => listen((l) => inner.doors.onChange(l), listener),
      compartments: () => inner.doors.compartments(),
    },
    keypad: {
      onKey: (listener) => listen((l) => inner.keypad.onKey(l), listener),
      onRejected: (listener) => listen((l) => inner.keypad.onRejected(l), listener),
    },
    scanner: {
      maxLength: inner.scanner.maxLength,
      onScan: (listener) => listen((l) => inner.scanner.onScan(l), listener),
      onRejected: (listener) => listen((l) => inner.scanner.onRejected(l), listener),
    },
    indicator: {
      show: (message) => {
        if (alive) inner.indicator.show(message);
      },
      beep: (pattern) => {
        if (alive) inner.indicator.beep(pattern);
      },
    },
    clock: gatedClock,
    // The physical hardware outlives the process: closing is the session's job.
    close: () => Promise.resolve(),
  };
  return {
    hardware,
    clock: gatedClock,
    get alive() {
      return alive;
    },
    cut: () => {
      if (!alive) return;
      alive = false;
      for (const id of timers) clock.clearTimeout({ id });
      timers.clear();
      for (const unsubscribe of subscriptions) unsubscribe();
      subscriptions.clear();
      // No power, no solenoid: every relay drops out, whatever the dead process was doing.
      void inner.relays.allOff();
    },
  };
}
