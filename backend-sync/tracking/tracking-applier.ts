import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { dedupeKeys, dedupeLevelOf, normalisedHash, orderKey } from './core/event-identity.js';
import { compareKeys, foldHistory, foldStep, isInOrder, type Flag, type FoldEvent, type TrackingProjection } from './core/tracking-fold.js';
import { etaFor, type EtaFor } from './eta-seam.js';
import { readModelRow, trackViewOf } from './read-model.js';
import { newTrackingId } from './tracking-intake.js';
import type { TrackingMetrics } from './tracking-metrics.js';
import type { HistoryEntry, HistoryRow, InboxRow } from './tracking-store.js';

// Folds accepted events into state. One transaction per batch: claim inbox rows (other
// instances skip them), then per tracking number, in sorted order: lock its projection row
// (instances serialise per number), drop duplicates at three levels, append the rest to
// history, fold (one step per event when they are newer than everything in history; a
// re-fold of the number's history when one is late), write the projection and its read
// model, tell the milestone sink, and delete the claimed rows. Docs: docs/backend.md
// "Tracking", docs/decisions/0030.

/** Told about every changed projection, inside the applying transaction (shipment steps, notifications). */
export interface MilestoneSink {
  changed(before: TrackingProjection, after: TrackingProjection): Promise<void>;
}

export interface TrackingApplierDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: TrackingMetrics;
  eta: EtaFor;
  milestones?: MilestoneSink | undefined;
  /** Composite dedupe: events of one status this close in time are one scan. */
  skewMs?: number;
  batchSize?: number;
}

const WEBHOOK_SOURCES = new Set(['easypost', 'aftership', 'canonical']);

interface Candidate {
  row: InboxRow;
  hash: string;
  record: string[];
}

export class TrackingApplier {
  private readonly log: Logger;
  private readonly skewMs: number;
  private readonly batchSize: number;
  private running: Promise<number> | undefined;
  private again = false;

  constructor(private readonly d: TrackingApplierDeps) {
    this.log = d.logger.child({ component: 'tracking-applier' });
    this.skewMs = d.skewMs ?? 60_000;
    this.batchSize = d.batchSize ?? 2_000;
  }

  /** Applies until the inbox is empty (or `maxBatches` were applied); resolves to the events handled. */
  async drain(maxBatches = Number.POSITIVE_INFINITY): Promise<number> {
    let n = 0;
    for (let b = 0; b < maxBatches; b++) {
      const got = await this.applyBatch();
      n += got;
      if (got === 0) break;
    }
    return n;
  }

  /** Starts a drain unless one is running (then that one goes round once more). Never rejects. */
  kick(): Promise<number> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<number> => {
      let n = 0;
      do {
        this.again = false;
        n += await this.drain();
      } while (this.again);
      return n;
    };
    this.running = run()
      .catch((err: unknown) => {
        this.log.error({ err }, 'tracking.apply_failed');
        return 0;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** One batch in one transaction; resolves to the inbox rows it handled. */
  applyBatch(): Promise<number> {
    const { store } = this.d;
    return store.transaction(async () => {
      const rows = await store.tracking.claimInbox(this.batchSize);
      if (rows.length === 0) return 0;
      const byNumber = new Map<string, InboxRow[]>();
      for (const r of rows) {
        const list = byNumber.get(r.trackingNumber);
        if (list === undefined) byNumber.set(r.trackingNumber, [r]);
        else list.push(r);
      }
      // Sorted, so two instances lock projection rows in one order and never wait in a cycle.
      for (const tn of [...byNumber.keys()].sort()) {
        const list = byNumber.get(tn) as InboxRow[];
        try {
          await store.transaction(() => this.applyNumber(tn, list));
        } catch (err) {
          // One number's poison must not hold every other number back: its events are kept
          // as dead letters (nothing valid is dropped) and the batch goes on.
          await this.deadLetterAll(list, err);
        }
      }
      await store.tracking.deleteInbox(rows.map((r) => r.seq));
      return rows.length;
    });
  }

  private async applyNumber(tn: string, rows: readonly InboxRow[]): Promise<void> {
    const { store, clock, metrics } = this.d;
    const t = store.tracking;
    const now = clock.now();
    const first = rows[0] as InboxRow;
    const locked = await t.lockProjection(tn, first.event.carrier, now);
    metrics.seen += rows.length;

    const candidates: Candidate[] = [];
    const checks: string[] = [];
    const keysOf = rows.map((row) => {
      const hash = normalisedHash(row.event);
      const keys = dedupeKeys(row.event, hash, this.skewMs);
      checks.push(...keys.check);
      return { row, hash, keys };
    });
    const existing = await t.existingKeys(checks);
    const taken = new Set<string>();
    for (const { row, hash, keys } of keysOf) {
      const hit = keys.check.find((k) => existing.has(k) || taken.has(k));
      if (hit !== undefined) {
        metrics.dedupeHit(dedupeLevelOf(hit));
        continue;
      }
      for (const k of keys.record) taken.add(k);
      candidates.push({ row, hash, record: keys.record });
    }
    if (candidates.length === 0) return;

    // Insert-if-absent: a key another transaction recorded meanwhile (a carrier event id
    // reused under another number) makes this event the duplicate.
    const recorded = await t.recordKeys(
      candidates.flatMap((c) => c.record),
      now,
    );
    const fresh = candidates.filter((c) => {
      const missing = c.record.find((k) => !recorded.has(k));
      if (missing !== undefined) metrics.dedupeHit(dedupeLevelOf(missing));
      return missing === undefined;
    });
    const entries: HistoryEntry[] = fresh.map((c) => ({ trackingNumber: tn, hash: c.hash, source: c.row.source, payloadId: c.row.payloadId, receivedAt: c.row.receivedAt, event: c.row.event }));
    // The history is unique on the hash: an event replayed after its dedupe keys were
    // purged is still recognised here.
    const appended = await t.appendHistory(entries);
    const accepted = entries.filter((e) => {
      if (!appended.has(e.hash)) metrics.dedupeHit('payload_hash');
      return appended.has(e.hash);
    });
    if (accepted.length === 0) return;

    const before = locked.projection;
    const steps: FoldEvent[] = accepted.map((e) => ({ key: orderKey(e.event, e.hash), hash: e.hash, event: e.event })).sort(compareKeys);
    let after: TrackingProjection;
    if (isInOrder(before, steps)) {
      after = before;
      const flags: Flag[] = [];
      for (const s of steps) {
        const { next, outcome } = foldStep(after, s);
        after = next;
        if (outcome.kind === 'flagged') flags.push(outcome.flag);
      }
      if (flags.length > 0) await t.addFlags(tn, flags, now);
      metrics.count('flagged', flags.length);
    } else {
      // A late event: the projection is the fold of the whole history again (rare).
      const history = await t.history(tn);
      const folded = foldHistory(tn, before.carrier, history.map(foldEventOf));
      after = folded.projection;
      await t.replaceFlags(tn, folded.flags, now);
      metrics.count('refolds');
      metrics.count('flagged', Math.max(0, after.flagged - before.flagged));
    }
    metrics.count('applied', accepted.length);
    await t.saveProjection(after, now);
    await t.putReadModel(tn, readModelRow(trackViewOf(after, await etaFor(this.d.eta, after))), now);
    if (accepted.some((e) => WEBHOOK_SOURCES.has(e.source))) await store.pollSchedule.noteWebhook(tn, now);
    if (after.status !== before.status || after.reached.length !== before.reached.length) {
      this.log.info({ trackingNumber: tn, from: before.status, to: after.status }, 'tracking.applied');
      await this.d.milestones?.changed(before, after);
    }
  }

  private async deadLetterAll(rows: readonly InboxRow[], err: unknown): Promise<void> {
    const reason = `apply failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
    for (const r of rows) {
      await this.d.store.tracking.deadLetter({ id: newTrackingId('tdl'), source: r.source, body: JSON.stringify(r.event), reason, receivedAt: r.receivedAt });
    }
    this.d.metrics.count('dead_lettered', rows.length);
    this.log.error({ trackingNumber: rows[0]?.trackingNumber, events: rows.length, err }, 'tracking.apply_dead_lettered');
  }
}

export function foldEventOf(h: HistoryRow): FoldEvent {
  return { key: orderKey(h.event, h.hash), hash: h.hash, event: h.event };
}
