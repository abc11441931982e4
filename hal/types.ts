// The hardware contract of a locker. Every driver (real or simulated) implements these
// interfaces; nothing outside hal/ knows which one it has. Compartments are addressed by
// their id (e.g. "A01"); the real drivers map ids to pins/channels from their config.

/** Call to stop listening. Idempotent. */
export type Unsubscribe = () => void;

/** Handle returned by Clock.setTimeout; opaque to callers. */
export interface TimerHandle {
  readonly id: number;
}

/**
 * Time as the runtime sees it. Pure core logic never reads the clock: the runtime passes
 * `now()` in as an input. Tests use the simulated FakeClock to advance time by hand.
 */
export interface Clock {
  /** Wall-clock time, epoch milliseconds. May jump (NTP, RTC battery, operator). */
  now(): number;
  /** Monotonic milliseconds since an arbitrary origin; never goes backwards. */
  monotonicMs(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Source of randomness, injected so tests are deterministic. */
export interface RandomSource {
  bytes(length: number): Uint8Array;
}

/** Lock solenoids, one relay per compartment. */
export interface RelayBank {
  /** The hard ceiling on one pulse, enforced by the driver whatever the caller asks. */
  readonly maxPulseMs: number;
  /**
   * Energise the compartment's lock relay for `ms` (clamped to [1, maxPulseMs]) and then
   * de-energise it. Resolves once the relay is off again.
   * Rejects with HalError code RELAY_UNKNOWN_COMPARTMENT for an id with no relay, and
   * RELAY_FAULT when the driver could not drive the pin (the relay is forced off first).
   * Pulses on the same compartment are serialised; pulses on different ones may overlap.
   */
  pulse(compartmentId: string, ms: number): Promise<void>;
  /** De-energise every relay. Called at start and at stop. Never rejects. */
  allOff(): Promise<void>;
  /** Ids this bank can drive. */
  compartments(): readonly string[];
}

export type DoorState = 'open' | 'closed' | 'unknown';

export interface DoorChange {
  compartmentId: string;
  state: DoorState;
  /** Clock.now() when the debounced state settled. */
  at: number;
}

/**
 * Door sensors, debounced by the driver: a change is reported only after the raw input has
 * been stable for the debounce window. 'unknown' means the sensor cannot be trusted (no
 * reading yet, a dead/disconnected input, or a sensor that keeps bouncing).
 */
export interface DoorSensors {
  read(compartmentId: string): DoorState;
  onChange(listener: (change: DoorChange) => void): Unsubscribe;
  compartments(): readonly string[];
}

/** Keys on the locker keypad. */
export type Key = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | 'enter' | 'clear' | 'cancel';

export interface KeyPress {
  key: Key;
  at: number;
}

/**
 * Input the driver refused: unparseable bytes, an over-long line, a framing error.
 * Reported, counted and logged by the runtime; never thrown.
 */
export interface InputRejection {
  source: 'keypad' | 'scanner';
  reason: 'garbage' | 'oversized' | 'framing' | 'io-error';
  /** Length of the rejected input in bytes; the content itself is never passed on. */
  length: number;
  at: number;
}

export interface Keypad {
  onKey(listener: (press: KeyPress) => void): Unsubscribe;
  onRejected(listener: (rejection: InputRejection) => void): Unsubscribe;
}

export interface Scan {
  /** One whole scan, printable ASCII, at most Scanner.maxLength characters. */
  data: string;
  at: number;
}

export interface Scanner {
  readonly maxLength: number;
  onScan(listener: (scan: Scan) => void): Unsubscribe;
  onRejected(listener: (rejection: InputRejection) => void): Unsubscribe;
}

/**
 * What the person at the locker sees. `tone` drives colour/icon; `text` is already
 * human-readable and must never contain a code or a token.
 */
export interface DisplayMessage {
  tone: 'idle' | 'prompt' | 'progress' | 'success' | 'error' | 'alarm';
  text: string;
  /** Compartment the message points the person to, if any (e.g. "Door A03 is open"). */
  compartmentId?: string;
}

export type BeepPattern = 'key' | 'success' | 'error' | 'alarm';

export interface Indicator {
  show(message: DisplayMessage): void;
  beep(pattern: BeepPattern): void;
}

/** Everything the runtime drives. */
export interface LockerHardware {
  readonly kind: 'real' | 'simulated';
  readonly relays: RelayBank;
  readonly doors: DoorSensors;
  readonly keypad: Keypad;
  readonly scanner: Scanner;
  readonly indicator: Indicator;
  readonly clock: Clock;
  /** Turns every relay off and releases ports/pins. Safe to call twice. */
  close(): Promise<void>;
}
