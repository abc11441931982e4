import { Counter, Gauge, type Registry } from 'prom-client';
import type { DedupeLevel } from './core/event-identity.js';

// What the applier counts: events applied, flagged, dropped as duplicates (by the level that
// recognised them), and late arrivals that made it re-fold a history. Plain numbers for
// benches and tests; Prometheus counters when a registry is given (GET /metrics).

// cycle_undone: a re-fold put a number back on an earlier parcel than the one it tracked (the
// fold's rule says it cannot; the milestones move nothing then, someone must look).
// deferred: a number's events left in the inbox after a transient conflict, applied on a later pass.
// promise_revised: a carrier's new promise that came on a scan already held (applier, revisedPromise).
// promise_unanchored: a promise with no scan of its own (AfterShip edd_revise) for a number
// whose state rests on no scan it could revise (promise-revise.ts): acknowledged, not kept.
export type TrackingCount = 'applied' | 'flagged' | 'refolds' | 'dead_lettered' | 'cycle_undone' | 'deferred' | 'promise_revised' | 'promise_unanchored';

/** The backlog gauge counts at most this many rows: a scrape costs the same at any backlog. */
export const INBOX_BACKLOG_CAP = 100_000;

export interface InboxBacklog {
  events: number;
  oldestAgeMs: number;
}

/**
 * The counts of one apply attempt. The applier adds them to TrackingMetrics only once the
 * attempt's transaction committed: a batch rolled back (retried number by number, or rerun
 * after a PostgreSQL deadlock) must not count its events as applied or as duplicates.
 */
export class TrackingTally {
  readonly dedupeHits: Record<DedupeLevel, number> = { carrier_event_id: 0, composite: 0, payload_hash: 0 };
  readonly counts: Record<TrackingCount, number> = { applied: 0, flagged: 0, refolds: 0, dead_lettered: 0, cycle_undone: 0, deferred: 0, promise_revised: 0, promise_unanchored: 0 };
  seen = 0;

  dedupeHit(level: DedupeLevel): void {
    this.dedupeHits[level]++;
  }

  count(what: TrackingCount, n = 1): void {
    this.counts[what] += n;
  }

  /** Adds another attempt's counts (one that committed, as part of this one). */
  add(t: TrackingTally): void {
    this.seen += t.seen;
    for (const level of Object.keys(t.dedupeHits) as DedupeLevel[]) this.dedupeHits[level] += t.dedupeHits[level];
    for (const what of Object.keys(t.counts) as TrackingCount[]) this.counts[what] += t.counts[what];
  }
}

export class TrackingMetrics {
  readonly dedupeHits: Record<DedupeLevel, number> = { carrier_event_id: 0, composite: 0, payload_hash: 0 };
  readonly counts: Record<TrackingCount, number> = { applied: 0, flagged: 0, refolds: 0, dead_lettered: 0, cycle_undone: 0, deferred: 0, promise_revised: 0, promise_unanchored: 0 };
  /** Events the applier looked at (duplicates included). */
  seen = 0;
  private readonly hitCounter: Counter<'level'> | undefined;
  private readonly eventCounter: Counter<'outcome'> | undefined;

  /** With a registry: Prometheus counters, and the inbox backlog read at scrape time through `backlog`. */
  constructor(registry?: Registry, backlog?: () => Promise<InboxBacklog>) {
    if (registry === undefined) return;
    if (backlog !== undefined) {
      // One read per scrape serves both gauges (prom-client collects them one after the other).
      let pending: Promise<InboxBacklog> | undefined;
      const read = (): Promise<InboxBacklog> => {
        pending ??= backlog().finally(() => {
          pending = undefined;
        });
        return pending;
      };
      new Gauge({
        name: 'backend_tracking_inbox_backlog',
        help: `Tracking events accepted and not yet applied, counted up to ${String(INBOX_BACKLOG_CAP)} (the same on every instance)`,
        registers: [registry],
        async collect() {
          this.set((await read()).events);
        },
      });
      new Gauge({
        name: 'backend_tracking_inbox_oldest_age_seconds',
        help: 'How long the oldest tracking event not yet applied has waited (0 when none): the apply lag to alert on',
        registers: [registry],
        async collect() {
          this.set((await read()).oldestAgeMs / 1000);
        },
      });
    }
    this.hitCounter = new Counter({ name: 'backend_tracking_dedupe_hits_total', help: 'Tracking events dropped as duplicates, by the dedupe level that recognised them', labelNames: ['level'], registers: [registry] });
    this.eventCounter = new Counter({ name: 'backend_tracking_events_total', help: 'Tracking events handled by the applier, by outcome (applied, flagged, refolds, dead_lettered; cycle_undone: numbers a re-fold put back on an earlier parcel)', labelNames: ['outcome'], registers: [registry] });
  }

  /** A committed attempt's counts: the only way counts get here (TrackingTally). */
  record(t: TrackingTally): void {
    this.seen += t.seen;
    for (const level of Object.keys(t.dedupeHits) as DedupeLevel[]) {
      const n = t.dedupeHits[level];
      if (n === 0) continue;
      this.dedupeHits[level] += n;
      this.hitCounter?.inc({ level }, n);
    }
    for (const what of Object.keys(t.counts) as TrackingCount[]) {
      const n = t.counts[what];
      if (n === 0) continue;
      this.counts[what] += n;
      this.eventCounter?.inc({ outcome: what }, n);
    }
  }

  /** Share of the events seen that were duplicates. */
  dedupeHitRate(): number {
    const hits = this.dedupeHits.carrier_event_id + this.dedupeHits.composite + this.dedupeHits.payload_hash;
    return this.seen === 0 ? 0 : hits / this.seen;
  }
}
