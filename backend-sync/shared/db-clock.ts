import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

// Several instances share one database and compare times one of them wrote with their own:
// a hold's expires_at, an outbox row's or a command's lease_until, a capture lease. An
// instance whose NTP broke, its clock a minute ahead, would take a live lease as lapsed
// (two instances send one notification) or expire a hold early (the compartment goes to a
// second customer while the first still holds it). So an instance does not decide by its
// host's clock: it reads the database server's clock, the one they all share, through
// this. The offset is measured at start (before serving) and again every alignIntervalMs
// (main.ts); between measurements time advances with the host's monotonic clock, which
// drifts milliseconds a minute and is never stepped. Not with its wall clock: NTP resuming
// on the broken host steps that by the whole skew, and with it this instance's time the
// other way until the next measurement (a minute of holds expired minutes early). See
// docs/backend.md, "Clock skew between instances".

/** One measurement of the host's clock against the database's. */
export interface ClockAlignment {
  /** Added to the clock this advances by: the database's time minus that clock's. */
  offsetMs: number;
  /** The database's time minus the host's wall clock: what a broken NTP shows as (/health, clock.skew). */
  hostSkewMs: number;
  /** Half the round trip of the sample taken: the offset is right to within this. */
  uncertaintyMs: number;
  /** Host time of the measurement. */
  at: number;
}

/** Samples per alignment; the one with the shortest round trip is kept. */
const SAMPLES = 3;

export class DbAlignedClock implements Clock {
  private current: ClockAlignment | undefined;

  /** `host`: the clock time advances by (main.ts: monotonicClock); `wall`: the host's wall
   * clock, only for reporting its skew (tests pass one skewed clock as both). */
  constructor(
    private readonly host: Clock,
    private readonly wall: Clock = host,
  ) {}

  now(): number {
    return this.host.now() + (this.current?.offsetMs ?? 0);
  }

  /** The offset in use; undefined before the first alignment. */
  get alignment(): ClockAlignment | undefined {
    return this.current;
  }

  /**
   * Measures the offset to `dbTime` (Store.dbTime) and uses it. A new offset within the
   * measurement's uncertainty of the one in use is not taken: time would step back and
   * forth by round-trip noise. Rejects when the database cannot answer (the offset in use stays).
   */
  async align(dbTime: () => Promise<number>): Promise<ClockAlignment> {
    let best: ClockAlignment | undefined;
    for (let i = 0; i < SAMPLES; i++) {
      const before = this.host.now();
      const wallBefore = this.wall.now();
      const db = await dbTime();
      const wallAfter = this.wall.now();
      const after = this.host.now();
      const sample = { offsetMs: Math.round(db - (before + after) / 2), hostSkewMs: Math.round(db - (wallBefore + wallAfter) / 2), uncertaintyMs: Math.ceil((after - before) / 2), at: after };
      if (best === undefined || sample.uncertaintyMs < best.uncertaintyMs) best = sample;
    }
    if (best === undefined) throw new Error('no clock sample taken');
    const prev = this.current;
    if (prev === undefined || Math.abs(best.offsetMs - prev.offsetMs) > best.uncertaintyMs) this.current = best;
    else this.current = { ...prev, hostSkewMs: best.hostSkewMs };
    return best;
  }
}

/** How often main.ts measures the offset again. */
export const ALIGN_INTERVAL_MS = 60_000;
/** A host clock further off the database's than this has a broken NTP: warned, though decisions are unaffected. */
export const SKEW_WARN_MS = 1_000;

/** Logs a measurement: `clock.skew` (warn) when the host's clock is off by more than SKEW_WARN_MS, else `clock.aligned` (debug). */
export function logAlignment(log: Logger, a: ClockAlignment): void {
  const fields = { hostSkewMs: a.hostSkewMs, offsetMs: a.offsetMs, uncertaintyMs: a.uncertaintyMs };
  if (Math.abs(a.hostSkewMs) > SKEW_WARN_MS) log.warn(fields, 'clock.skew');
  else log.debug(fields, 'clock.aligned');
}
