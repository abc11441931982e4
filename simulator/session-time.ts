import { performance } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '@locker/hal/types.js';

// Time for a whole simulator session: real time plus an offset a technician (or a scenario)
// moves forward with `clock forward`. Every locker, its drivers, its sync agent and the
// embedded backend read time here, so "73 hours pass" is seen the same way by the device
// (pickup windows, lockouts, jam waits) and by the backend (shipment deadlines, token
// lifetimes). Monotonic time only moves forward; a locker's wall clock can additionally be
// skewed on its own (an RTC or NTP fault), which the runtime must notice and survive.
//
// One timer wheel serves every clock: one real timeout for the earliest due timer. Moving
// forward fires the timers that fall due on the way, in order, each seeing its own due
// time, with the event loop turned between them so promise chains (a pulse ending, a door
// debounce) settle as they would in real time.

interface Timer {
  id: number;
  due: number;
  callback: () => void;
}

export class SessionTime {
  private forwardMs = 0;
  private nextId = 1;
  private timers: Timer[] = [];
  private real: NodeJS.Timeout | undefined;
  private closed = false;

  /** How far simulated time is ahead of real time, ms. */
  get offsetMs(): number {
    return this.forwardMs;
  }

  /** Whole milliseconds, as Date.now() gives (monotonic time is fractional, as performance.now()). */
  wallNow(): number {
    return Date.now() + Math.floor(this.forwardMs);
  }

  monotonicMs(): number {
    return performance.now() + this.forwardMs;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const delay = Number.isFinite(ms) ? Math.max(0, ms) : 0;
    const timer: Timer = { id: this.nextId++, due: this.monotonicMs() + delay, callback };
    this.timers.push(timer);
    this.schedule();
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle.id);
  }

  /**
   * Time passes: every clock of the session moves `ms` forward. The timers pending now that
   * fall due on the way fire in order, each at its due time; timers they schedule in turn
   * fire once, right after the jump, however many periods they would have run (as after a
   * suspend): 73 hours of a 200 ms poll are one poll, not 1.3 million.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`time only moves forward (got ${String(ms)} ms)`);
    const target = this.monotonicMs() + ms;
    const pending = new Set(this.timers.map((t) => t.id));
    await turn();
    for (let timer = this.takeDue(target, pending); timer !== undefined; timer = this.takeDue(target, pending)) {
      this.moveTo(timer.due);
      runSafely(timer.callback);
      await turn();
    }
    this.moveTo(target);
    await turn();
    this.schedule();
  }

  /** A clock for one locker: session time, plus a wall-clock skew of its own. */
  clock(): SimClock {
    return new SimClock(this);
  }

  /** The backend's clock (backend-sync's Clock: now() only). */
  backendClock(): { now(): number } {
    return { now: () => this.wallNow() };
  }

  pendingTimers(): number {
    return this.timers.length;
  }

  close(): void {
    this.closed = true;
    if (this.real !== undefined) clearTimeout(this.real);
    this.real = undefined;
    this.timers = [];
  }

  private moveTo(mono: number): void {
    const now = this.monotonicMs();
    if (mono > now) this.forwardMs += mono - now;
  }

  private takeDue(target: number, among?: ReadonlySet<number>): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) {
      if (among !== undefined && !among.has(t.id)) continue;
      if (best === undefined || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    if (best === undefined || best.due > target) return undefined;
    this.timers = this.timers.filter((t) => t !== best);
    return best;
  }

  /** One real timeout, for the earliest timer. */
  private schedule(): void {
    if (this.closed) return;
    let earliest = Infinity;
    for (const t of this.timers) earliest = Math.min(earliest, t.due);
    if (this.real !== undefined) clearTimeout(this.real);
    this.real = undefined;
    // Recomputed at every change: a jump makes an earlier real delay wrong.
    if (earliest === Infinity) return;
    this.real = setTimeout(() => {
      this.real = undefined;
      this.fireDue();
    }, Math.max(0, Math.ceil(earliest - this.monotonicMs())));
  }

  private fireDue(): void {
    const now = this.monotonicMs();
    for (let timer = this.takeDue(now); timer !== undefined; timer = this.takeDue(now)) runSafely(timer.callback);
    this.schedule();
  }
}

/** A locker's clock (hal Clock): the session's time, its own wall skew. */
export class SimClock implements Clock {
  private wallSkewMs = 0;

  constructor(private readonly time: SessionTime) {}

  now(): number {
    return this.time.wallNow() + this.wallSkewMs;
  }

  monotonicMs(): number {
    return this.time.monotonicMs();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.time.setTimeout(callback, ms);
  }

  clearTimeout(handle: TimerHandle): void {
    this.time.clearTimeout(handle);
  }

  /** The wall clock alone jumps (RTC battery, bad NTP): monotonic time is unaffected. */
  jumpWall(ms: number): void {
    this.wallSkewMs += ms;
  }

  get wallSkew(): number {
    return this.wallSkewMs;
  }
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function runSafely(callback: () => void): void {
  try {
    callback();
  } catch {
    // Callers' timers carry their own error boundaries (the runtime's NamedTimers); a
    // throw here must not stop the other timers of the session.
  }
}
