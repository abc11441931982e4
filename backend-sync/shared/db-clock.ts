import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

// Several instances share one database and compare times one of them wrote with their own:
// a hold's expires_at, an outbox row's or a command's lease_until, a capture lease. An
// instance whose NTP broke, its clock a minute ahead, would take a live lease as lapsed
// (two instances send one notification) or expire a hold early (the compartment goes to a
// second customer while the first still holds it). So an instance does not decide by its
// host's clock: it reads the database server's clock, the one they all share, through
// this. The offset is measured at start (before serving) and again every alignIntervalMs
// (main.ts); between measurements time advances with the host's clock, which drifts
// milliseconds a minute, not seconds. See docs/backend.md, "Clock skew between instances".

/** One measurement of the host's clock against the database's. */
export interface ClockAlignment {
  /** Added to the host's clock: the database's time minus the host's. */
  offsetMs: number;
  /** Half the round trip of the sample taken: the offset is right to within this. */
  uncertaintyMs: number;
  /** Host time of the measurement. */
  at: number;
}

/** Samples per alignment; the one with the shortest round trip is kept. */
const SAMPLES = 3;

export class DbAlignedClock implements Clock {
  private current: ClockAlignment | undefined;

  constructor(private readonly host: Clock) {}

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
      const db = await dbTime();
      const after = this.host.now();
      const sample = { offsetMs: Math.round(db - (before + after) / 2), uncertaintyMs: Math.ceil((after - before) / 2), at: after };
      if (best === undefined || sample.uncertaintyMs < best.uncertaintyMs) best = sample;
    }
    if (best === undefined) throw new Error('no clock sample taken');
    const prev = this.current;
    if (prev === undefined || Math.abs(best.offsetMs - prev.offsetMs) > best.uncertaintyMs) this.current = best;
    return best;
  }
}

/** How often main.ts measures the offset again. */
export const ALIGN_INTERVAL_MS = 60_000;
/** A host clock further off the database's than this has a broken NTP: warned, though decisions are unaffected. */
export const SKEW_WARN_MS = 1_000;

/** Logs a measurement: `clock.skew` (warn) when the host's clock is off by more than SKEW_WARN_MS, else `clock.aligned` (debug). */
export function logAlignment(log: Logger, a: ClockAlignment): void {
  const fields = { offsetMs: a.offsetMs, uncertaintyMs: a.uncertaintyMs };
  if (Math.abs(a.offsetMs) > SKEW_WARN_MS) log.warn(fields, 'clock.skew');
  else log.debug(fields, 'clock.aligned');
}
