import type { Logger } from '../../shared/logger.js';

// A failure that repeats at every pass of a loop (the checkpoint worker's, 20 a second)
// must not flood the log: on a full disk that flood is what fills it further. Logged when
// it starts, then as one line with the count at most every `everyMs` while it lasts, and
// once when a pass succeeds again.

export interface RepeatingFailureLogOptions {
  log: Logger;
  /** The event name of the failure lines; the recovery line is `${event}_recovered`. */
  event: string;
  now?: () => number;
  everyMs?: number;
}

export class RepeatingFailureLog {
  private failures = 0;
  private since = 0;
  private lastLoggedAt = 0;
  private readonly now: () => number;
  private readonly everyMs: number;

  constructor(private readonly o: RepeatingFailureLogOptions) {
    this.now = o.now ?? Date.now;
    this.everyMs = o.everyMs ?? 60_000;
  }

  /** Consecutive failures so far (0 after a success). */
  get consecutive(): number {
    return this.failures;
  }

  failed(reason: string): void {
    const at = this.now();
    this.failures++;
    if (this.failures === 1) {
      this.since = at;
      this.lastLoggedAt = at;
      this.o.log.warn({ reason }, this.o.event);
    } else if (at - this.lastLoggedAt >= this.everyMs) {
      this.lastLoggedAt = at;
      this.o.log.warn({ reason, failures: this.failures, failingForMs: at - this.since }, this.o.event);
    }
  }

  succeeded(): void {
    if (this.failures === 0) return;
    this.o.log.info({ failures: this.failures, failingForMs: this.now() - this.since }, `${this.o.event}_recovered`);
    this.failures = 0;
  }
}
