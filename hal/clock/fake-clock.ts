import type { Clock, TimerHandle } from '../types.js';

interface FakeTimer {
  id: number;
  due: number;
  callback: () => void;
}

export interface FakeClockOptions {
  /** Initial wall time, epoch ms. Default 2026-01-01T00:00:00Z. */
  wallMs?: number;
  /** Initial monotonic time. Default 0. */
  monotonicMs?: number;
}

/**
 * A clock moved by hand. Timers fire in due-time order (ties in scheduling order) and a
 * timer scheduled by a callback during `advance` fires in the same advance if it falls due.
 * Wall and monotonic time move together except through `jumpWall`, which models an
 * RTC/NTP correction: the runtime must not confuse the two.
 */
export class FakeClock implements Clock {
  private wall: number;
  private mono: number;
  private nextId = 1;
  private timers: FakeTimer[] = [];

  constructor(options: FakeClockOptions = {}) {
    this.wall = options.wallMs ?? Date.UTC(2026, 0, 1);
    this.mono = options.monotonicMs ?? 0;
  }

  now(): number {
    return this.wall;
  }

  monotonicMs(): number {
    return this.mono;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const delay = Number.isFinite(ms) ? Math.max(0, ms) : 0;
    const timer: FakeTimer = { id: this.nextId++, due: this.mono + delay, callback };
    this.timers.push(timer);
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle.id);
  }

  /** Moves both clocks forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance needs ms >= 0, got ${ms}`);
    const target = this.mono + ms;
    for (let timer = this.takeDue(target); timer !== undefined; timer = this.takeDue(target)) {
      this.moveTo(timer.due);
      timer.callback();
    }
    this.moveTo(target);
  }

  /**
   * Like `advance`, but lets pending promise callbacks run before each timer and at the
   * end, for code that awaits between scheduling timers (e.g. a pulse queued behind
   * another). Uses setImmediate, never a real delay.
   */
  async advanceAsync(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advanceAsync needs ms >= 0, got ${ms}`);
    const target = this.mono + ms;
    await flushMicrotasks();
    for (let timer = this.takeDue(target); timer !== undefined; timer = this.takeDue(target)) {
      this.moveTo(timer.due);
      timer.callback();
      await flushMicrotasks();
    }
    this.moveTo(target);
    await flushMicrotasks();
  }

  /** Moves only the wall clock (may be negative): an RTC or NTP jump. */
  jumpWall(ms: number): void {
    this.wall += ms;
  }

  /** Sets the wall clock to an absolute epoch time; monotonic time is unaffected. */
  setWall(epochMs: number): void {
    this.wall = epochMs;
  }

  /** Number of timers not yet fired or cleared. */
  pendingTimers(): number {
    return this.timers.length;
  }

  /** Milliseconds until the next timer falls due, or undefined when none is pending. */
  nextTimerInMs(): number | undefined {
    const next = this.peek();
    return next === undefined ? undefined : next.due - this.mono;
  }

  private moveTo(mono: number): void {
    if (mono <= this.mono) return;
    this.wall += mono - this.mono;
    this.mono = mono;
  }

  private peek(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers) {
      if (best === undefined || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  }

  private takeDue(target: number): FakeTimer | undefined {
    const next = this.peek();
    if (next === undefined || next.due > target) return undefined;
    this.timers = this.timers.filter((t) => t !== next);
    return next;
  }
}

function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
