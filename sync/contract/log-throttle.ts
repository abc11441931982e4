// Shared by both sides of the wire (the device runtime, the sync agent, the backend bridge):
// aggregates log lines caused by outside input (garbage on a serial line, a peer publishing
// malformed messages) so that input arriving as fast as the wire allows cannot flood the
// SD card or journald. Per key (a reason), the first occurrence in a window is logged in
// full; the rest are only counted, and the counts come out as one summary when the window
// is over. Pure: time is passed in, nothing is logged here, the caller writes the lines.
// Lines per window are at most one per key plus one summary, whatever the input rate.

export interface ThrottleSummary {
  /** Occurrences per key that were counted but not logged in the window that ended. */
  suppressed: Record<string, number>;
  windowMs: number;
}

export interface ThrottleVerdict {
  /** Log this occurrence in full: the first of its key in the window. */
  log: boolean;
  /** The previous window ended with suppressed occurrences: log this summary first. */
  summary?: ThrottleSummary;
}

/**
 * Ordinary keys beyond this many in one window are counted under OVERFLOW_KEY (memory bound).
 * Important keys (see hit) are never merged: a flood of garbage reaching the cap must not
 * hide the first occurrence of a tampering reason behind a bucket already logged.
 */
export const DEFAULT_THROTTLE_MAX_KEYS = 32;
export const OVERFLOW_KEY = '(other)';

export class LogThrottle {
  private windowStart: number | undefined;
  private readonly logged = new Set<string>();
  private readonly suppressed = new Map<string, number>();
  /** Ordinary keys logged in this window: what the cap counts (important keys are not). */
  private ordinary = 0;

  constructor(
    readonly windowMs: number,
    private readonly maxKeys: number = DEFAULT_THROTTLE_MAX_KEYS,
  ) {
    if (!(windowMs > 0)) throw new RangeError(`throttle windowMs must be positive, got ${windowMs}`);
  }

  /**
   * One occurrence of `key` at monotonic time `now`. `important`: the key is always kept
   * apart, never merged into OVERFLOW_KEY, so its first occurrence in a window is always
   * logged. The caller vouches that important keys come from a small fixed set (reasons the
   * code names, not text a peer chooses): they are outside the memory bound.
   */
  hit(key: string, now: number, important = false): ThrottleVerdict {
    const summary = this.flush(now);
    this.windowStart ??= now;
    const bounded = important || this.logged.has(key) || this.ordinary < this.maxKeys ? key : OVERFLOW_KEY;
    if (!this.logged.has(bounded)) {
      this.logged.add(bounded);
      if (!important) this.ordinary++;
      return summary === undefined ? { log: true } : { log: true, summary };
    }
    this.suppressed.set(bounded, (this.suppressed.get(bounded) ?? 0) + 1);
    return summary === undefined ? { log: false } : { log: false, summary };
  }

  /**
   * Ends the window if it is over (call it from a periodic timer too, so the count of a
   * flood that stopped still gets out): the summary when anything was suppressed.
   */
  flush(now: number): ThrottleSummary | undefined {
    if (this.windowStart === undefined) return undefined;
    // A wall clock stepped back (the backend passes one) ends the window too.
    const elapsed = now - this.windowStart;
    if (elapsed >= 0 && elapsed < this.windowMs) return undefined;
    const summary = this.suppressed.size === 0 ? undefined : { suppressed: Object.fromEntries(this.suppressed), windowMs: this.windowMs };
    this.windowStart = undefined;
    this.logged.clear();
    this.suppressed.clear();
    this.ordinary = 0;
    return summary;
  }
}
