import type { Clock, TimerHandle } from '@locker/hal/types.js';

// Named one-shot timers on the injected clock: starting a name again replaces the pending
// one, so a state machine's "start-timer" effect is idempotent by construction.
export class NamedTimers {
  private readonly pending = new Map<string, TimerHandle>();

  constructor(
    private readonly clock: Clock,
    /** Runs the callback inside the runtime's error boundary. */
    private readonly run: (name: string, callback: () => void) => void,
  ) {}

  start(name: string, ms: number, callback: () => void): void {
    this.cancel(name);
    const handle = this.clock.setTimeout(() => {
      if (this.pending.get(name) !== handle) return;
      this.pending.delete(name);
      this.run(name, callback);
    }, ms);
    this.pending.set(name, handle);
  }

  cancel(name: string): void {
    const handle = this.pending.get(name);
    if (handle === undefined) return;
    this.clock.clearTimeout(handle);
    this.pending.delete(name);
  }

  cancelAll(): void {
    for (const name of [...this.pending.keys()]) this.cancel(name);
  }
}
