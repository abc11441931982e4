import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { isBackendError } from '../shared/errors.js';
import { isDbUnavailableError } from '../store/db-unavailable.js';
import { isRetryableDbError } from '../store/retryable-error.js';
import type { Store } from '../store/store.js';
import { carrierEventKey, compositeProbe, hashOfOrderKey, isPromiseRevision, normalisedHash, orderKey, promiseRevisionHash, revisedScanHash, type CompositeProbe, type DedupeLevel } from './core/event-identity.js';
import { compareKeys, foldHistory, foldStep, isInOrder, movesInOrder, movesRefolded, type Flag, type ParcelMove, type FoldEvent, type TrackingProjection } from './core/tracking-fold.js';
import { etaFor, type EtaFor } from './eta-seam.js';
import { readModelRow, trackViewOf } from './read-model.js';
import { newTrackingId } from './tracking-intake.js';
import { TrackingTally, type TrackingMetrics } from './tracking-metrics.js';
import type { PollPolicyConfig } from './polling/hybrid-poll-policy.js';
import { notePollNewsBatch, webhookSources, type TrackingNews } from './polling/poll-schedule-news.js';
import { TRACKING_DEDUPE_RETENTION_MS } from './tracking-services.js';
import type { HistoryEntry, InboxClaim, InboxRow, UnreadableInboxRow } from './tracking-store.js';

// Folds accepted events into state. One transaction per batch: claim inbox rows (other
// instances skip them), then per tracking number, in sorted order: lock its projection row
// (instances serialise per number), drop duplicates at three levels, append the rest to
// history, fold (one step per event when they are newer than everything in history; a
// re-fold of the number's history when one is late), write the projection and its read
// model, tell the milestone sink, and delete the claimed rows. Docs: docs/backend.md
// "Tracking", docs/decisions/0030.

/**
 * One parcel's move in a batch (core/tracking-fold.ts, ParcelMove). A batch that ended a
 * recycled number's parcel and started the next tells each parcel apart: the old one up to
 * its end (with `next`, which bounds whose shipments it had), then the new one; a late batch
 * that added or ended parcels before the current one tells those too. `newParcel` is
 * decided from the events each parcel holds, never from cycle numbers, which late scans shift.
 */
export type TrackingChange = ParcelMove;

/** Told about the projections whose status or milestones changed, inside the applying transaction (shipment steps, notifications). */
export interface MilestoneSink {
  changed(changes: ReadonlyArray<TrackingChange>): Promise<void>;
}

export interface TrackingApplierDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: TrackingMetrics;
  eta: EtaFor;
  milestones?: MilestoneSink | undefined;
  /** Told the same changes: learns leg times from shipments that just arrived (eta/learned-eta.ts). */
  legs?: MilestoneSink | undefined;
  /** Composite dedupe: events of one status this close in time are one scan. */
  skewMs?: number;
  /** The composite level looks at events received this recently (the dedupe retention). */
  retentionMs?: number;
  /** The hybrid poll policy's news rule (when news brings the next poll forward). */
  pollPolicy?: PollPolicyConfig | undefined;
  /** Inbox rows per batch (one transaction): at most this many. */
  batchSize?: number;
  /** Tracking numbers per batch: those of this many oldest inbox rows. */
  batchNumbers?: number;
}

/** The accepted event with the latest event time (the last in arrival order on a tie). */
function newestOf(list: readonly HistoryEntry[]): HistoryEntry {
  let newest = list[0] as HistoryEntry;
  for (const e of list) if (e.event.eventTime >= newest.event.eventTime) newest = e;
  return newest;
}

/** Events accepted earlier in the same batch, for the composite level (history does not hold them yet). */
class BatchWindow {
  private readonly times = new Map<string, number[]>();

  hits(p: CompositeProbe): boolean {
    return (this.times.get(`${p.trackingNumber}\u0000${p.status}`) ?? []).some((t) => t >= p.from && t <= p.to);
  }

  add(e: { trackingNumber: string; status: string; eventTime: number }): void {
    const k = `${e.trackingNumber}\u0000${e.status}`;
    pushTo(this.times, k, e.eventTime);
  }
}

export class TrackingApplier {
  private readonly log: Logger;
  private readonly skewMs: number;
  private readonly retentionMs: number;
  private readonly batchSize: number;
  private readonly batchNumbers: number;
  private running: Promise<number> | undefined;
  private again = false;

  constructor(private readonly d: TrackingApplierDeps) {
    this.log = d.logger.child({ component: 'tracking-applier' });
    this.skewMs = d.skewMs ?? 60_000;
    this.retentionMs = d.retentionMs ?? TRACKING_DEDUPE_RETENTION_MS;
    this.batchSize = d.batchSize ?? 5_000;
    this.batchNumbers = d.batchNumbers ?? Math.max(1, Math.floor(this.batchSize / 5));
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
    return this.applyClaimed(() => this.d.store.tracking.claimInbox(this.batchNumbers, this.batchSize));
  }

  /**
   * Applies one number's pending events now, whatever else waits in the inbox (an API call
   * that reports a step and answers with its effect: it must not wait for a burst).
   */
  applyNow(trackingNumber: string): Promise<number> {
    return this.applyClaimed(() => this.d.store.tracking.claimInboxOf(trackingNumber, this.batchSize));
  }

  private async applyClaimed(claim: () => Promise<InboxClaim>): Promise<number> {
    const { store } = this.d;
    // Counted once the transaction committed (applyNow inside a caller's transaction: once
    // its savepoint was released); a rerun starts a fresh tally.
    const { handled, tally } = await store.transaction(async () => {
      const tally = new TrackingTally();
      const { rows, unreadable } = await claim();
      // A row this release cannot read must not stop every drain at the head of the inbox:
      // kept as a dead letter (its stored text, for a replay once it can be read), then gone.
      if (unreadable.length > 0) await this.deadLetterUnreadable(unreadable, tally);
      if (rows.length === 0) return { handled: unreadable.length, tally };
      const byNumber = new Map<string, InboxRow[]>();
      for (const r of rows) {
        pushTo(byNumber, r.trackingNumber, r);
      }
      const groups = [...byNumber.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      const deferred = new Set<string>();
      try {
        // The whole batch with a fixed number of statements (each carries every number's rows).
        const whole = new TrackingTally();
        await store.transaction(() => this.applyGroups(groups, whole));
        tally.add(whole);
      } catch (err) {
        // A deadlock or serialisation failure aborts the whole transaction: the executor
        // runs it again. Anything else failed in the batch's content: number by number, so
        // one number's poison does not hold every other back. Its events are kept as dead
        // letters (nothing valid is dropped) and the batch goes on. A conflict that says
        // "retry" (an order another instance kept changing) is no poison: that number's
        // events stay in the inbox for the next pass, and nothing else waits for them. An
        // unreachable database is no poison either: the batch waits in the inbox for the
        // next pass (no event is dead-lettered for a PostgreSQL restart).
        if (isRetryableDbError(err) || isDbUnavailableError(err)) throw err;
        this.log.warn({ err, numbers: groups.length }, 'tracking.batch_retried_per_number');
        for (const g of groups) {
          const one = new TrackingTally();
          try {
            await store.transaction(() => this.applyGroups([g], one));
            tally.add(one);
          } catch (e) {
            if (isRetryableDbError(e) || isDbUnavailableError(e)) throw e;
            if (isBackendError(e, 'CONFLICT')) {
              deferred.add(g[0]);
              tally.count('deferred', g[1].length);
              this.log.warn({ trackingNumber: g[0], events: g[1].length, reason: e.message }, 'tracking.apply_deferred');
              continue;
            }
            await this.deadLetterAll(g[1], e, tally);
          }
        }
      }
      const done = rows.filter((r) => !deferred.has(r.trackingNumber));
      await store.tracking.deleteInbox(done.map((r) => r.seq));
      return { handled: done.length + unreadable.length, tally };
    });
    this.d.metrics.record(tally);
    return handled;
  }

  private async applyGroups(groups: ReadonlyArray<readonly [string, InboxRow[]]>, metrics: TrackingTally): Promise<void> {
    const { store, clock } = this.d;
    const t = store.tracking;
    const now = clock.now();
    // Locks every number's projection row, in tracking-number order: instances applying
    // events of one number serialise here.
    const locked = await t.lockProjections(
      groups.map(([tn, list]) => ({ trackingNumber: tn, carrier: (list[0] as InboxRow).event.carrier })),
      now,
    );

    // Dedupe: one read per level for the whole batch, then decisions in memory in arrival
    // order (a duplicate inside the batch is caught by the taken sets and `window`).
    const probes = groups.flatMap(([, list]) =>
      list.map((row) => ({ row, hash: normalisedHash(row.event), idKey: carrierEventKey(row.event), probe: compositeProbe(row.event, this.skewMs) })),
    );
    metrics.seen += probes.length;
    const idKeys = probes.flatMap((p) => (p.idKey === undefined ? [] : [p.idKey]));
    const existing = await t.existingKeys(idKeys);
    // The window is measured back from when the batch's oldest row was received, not from
    // now: a replay that waited in a backlog is judged as if applied on arrival.
    let oldestReceived = now;
    for (const p of probes) oldestReceived = Math.min(oldestReceived, p.row.receivedAt);
    const near = await t.compositeHits(
      probes.map((p) => p.probe),
      oldestReceived - this.retentionMs,
    );
    const known = await t.existingHashes(probes.map((p) => p.hash));
    // Level one first, whole: each new carrier event id is inserted-if-absent before any
    // other decision, so an event that loses its id to another instance (the same id
    // recorded meanwhile under another number) is a duplicate before it can make a later
    // scan look like its composite duplicate (that scan would be lost with it).
    const takenIds = new Set<string>();
    const owners = probes.map((p) => {
      if (p.idKey === undefined) return true;
      if (existing.has(p.idKey) || takenIds.has(p.idKey)) return false;
      takenIds.add(p.idKey);
      return true;
    });
    const recorded = await t.recordKeys([...takenIds], now);
    const takenHashes = new Set<string>();
    const window = new BatchWindow();
    const entries: HistoryEntry[] = [];
    // Per number, the duplicates that carry a promise, in arrival order: one may revise it.
    // Kept apart by what they duplicate: a scan stored before this batch (its revision folds
    // with the batch, right after that scan) or one of this batch's own (revised after the
    // fold); a copy of an old scan must never revise a new one.
    const promisedStored = new Map<string, HistoryEntry[]>();
    const promisedBatch = new Map<string, HistoryEntry[]>();
    const duplicate = (level: DedupeLevel, e: HistoryEntry, of: 'stored' | 'batch'): void => {
      metrics.dedupeHit(level);
      if (e.event.estimatedDeliveryAt === undefined) return;
      pushTo(of === 'stored' ? promisedStored : promisedBatch, e.trackingNumber, e);
    };
    probes.forEach(({ row, hash, idKey, probe }, i) => {
      const entry: HistoryEntry = { trackingNumber: row.trackingNumber, hash, source: row.source, payloadId: row.payloadId, receivedAt: row.receivedAt, event: row.event, eventJson: row.eventJson, revisedAt: row.revisedAt };
      if (idKey !== undefined && existing.has(idKey)) return duplicate('carrier_event_id', entry, 'stored');
      if (owners[i] !== true) return duplicate('carrier_event_id', entry, 'batch');
      if (idKey !== undefined && !recorded.has(idKey)) return duplicate('carrier_event_id', entry, 'stored');
      // Our locker's own events are never a carrier scan's composite duplicate: a carrier
      // reporting the drop a few seconds before the door event must not take the deposit
      // (and with it the doors' say, status-rules.ts) out of the timeline. Their ids dedupe them.
      const fromLocker = row.source === 'locker';
      if (!fromLocker && near[i] === true) return duplicate('composite', entry, 'stored');
      if (!fromLocker && window.hits(probe)) return duplicate('composite', entry, 'batch');
      if (known.has(hash)) return duplicate('payload_hash', entry, 'stored');
      if (takenHashes.has(hash)) return duplicate('payload_hash', entry, 'batch');
      takenHashes.add(hash);
      window.add(row.event);
      entries.push(entry);
    });
    if (entries.length === 0 && promisedStored.size === 0 && promisedBatch.size === 0) return;
    // The history is unique on the hash (the third level): one appended by another
    // transaction since the read above is recognised here.
    const appended = entries.length === 0 ? new Set<string>() : await t.appendHistory(entries);
    const accepted = new Map<string, HistoryEntry[]>();
    for (const e of entries) {
      if (!appended.has(e.hash)) {
        duplicate('payload_hash', e, 'stored');
        continue;
      }
      pushTo(accepted, e.trackingNumber, e);
    }
    // A revision of the scan the state rested on before this batch is folded with the batch's
    // scans (it sorts right after that scan, before any newer one), as it would be had it come
    // in a batch of its own first: a newer scan in the same batch must not hide it.
    const early = [...promisedStored].flatMap(([tn, dups]) => {
      const stored = locked.get(tn)?.projection;
      const rev = stored === undefined ? undefined : this.revisionFor(stored, dups);
      return rev === undefined ? [] : [rev];
    });
    const earlyIn = early.length === 0 ? new Set<string>() : await t.appendHistory(early);
    for (const rev of early) {
      if (!earlyIn.has(rev.hash)) continue;
      metrics.count('promise_revised');
      pushTo(accepted, rev.trackingNumber, rev);
    }

    const changes: Array<{ after: TrackingProjection; newest: HistoryEntry; moves: TrackingChange[] }> = [];
    for (const [tn, list] of accepted) {
      const stored = locked.get(tn);
      if (stored === undefined) throw new Error(`tracking_state row missing after lock: ${tn}`);
      // A number's carrier is its scans' (as the rebuild takes it from the first): a row
      // created before any scan (a shipment locking its number) may name the merchant's.
      const before = stored.projection.events === 0 ? { ...stored.projection, carrier: (list[0] as HistoryEntry).event.carrier } : stored.projection;
      const { after, moves, flaggedNow } = await this.fold(tn, before, list, now, metrics);
      changes.push({ after, newest: newestOf(list), moves });
      // Applied: scans that entered history and moved the fold; the ones it refused count as flagged only.
      metrics.count('applied', Math.max(0, list.filter((e) => !isPromiseRevision(e.hash)).length - flaggedNow));
    }
    for (const [tn, dups] of promisedBatch) {
      const change = changes.find((c) => c.after.trackingNumber === tn);
      const base = change?.after ?? locked.get(tn)?.projection;
      if (base === undefined) continue;
      const revised = await this.revisedPromise(base, dups, now, metrics);
      if (revised === undefined) continue;
      if (change !== undefined) change.after = revised.after;
      else changes.push({ after: revised.after, newest: revised.entry, moves: [] });
    }
    if (changes.length === 0) return;
    await t.saveProjections(
      changes.map((c) => c.after),
      now,
    );
    const reads: Array<{ trackingNumber: string; row: ReturnType<typeof readModelRow> }> = [];
    const news: TrackingNews[] = [];
    for (const c of changes) {
      const eta = await etaFor(this.d.eta, c.after);
      reads.push({ trackingNumber: c.after.trackingNumber, row: readModelRow(trackViewOf(c.after, eta)) });
      if (c.after.status !== null) {
        // The poll schedule follows the shipment: one note per number, from its newest event
        // and (when any of its events came by webhook) the webhook's receive time.
        const viaWebhook = (accepted.get(c.after.trackingNumber) ?? []).find((e) => webhookSources.has(e.source));
        news.push({
          trackingNumber: c.after.trackingNumber,
          carrier: c.after.carrier,
          source: viaWebhook?.source ?? c.newest.source,
          status: c.after.status,
          eventAt: c.newest.event.eventTime,
          receivedAt: viaWebhook?.receivedAt ?? c.newest.receivedAt,
          etaAt: eta?.eta,
        });
      }
    }
    await t.putReadModels(reads, now);
    await notePollNewsBatch(store.pollSchedule, news, this.d.pollPolicy);
    // A refold can swap one milestone for another (a late scan makes an applied step
    // illegal and a skipped one legal): compared as sets, not by count. A parcel still in
    // exception with new scans may have recovered and got stuck again in between.
    // A batch that ended a recycled number's parcel and started the next is told as one move
    // per parcel, so each parcel's last milestones reach its own shipments.
    const told: TrackingChange[] = changes.flatMap((c) => c.moves);
    const moved = told.filter(
      (c) =>
        c.newParcel ||
        c.after.status !== c.before.status ||
        !sameMembers(c.after.reached, c.before.reached) ||
        (c.after.status === 'exception' && c.after.lastAppliedKey !== c.before.lastAppliedKey),
    );
    metrics.count('cycle_undone', told.filter((c) => c.after.cycle < c.before.cycle).length);
    for (const c of moved) this.log.debug({ trackingNumber: c.after.trackingNumber, from: c.before.status, to: c.after.status }, 'tracking.applied');
    if (moved.length > 0) {
      await this.d.milestones?.changed(moved);
      await this.d.legs?.changed(moved);
    }
  }

  /**
   * A carrier's revised promise that came on a duplicate of the scan the number's state rests
   * on (providers resend every scan with each update, the promise on the newest): appended
   * to history as its own row, named after that scan (core/event-identity.ts,
   * promiseRevisionHash) and placed right after it, and folded, so the ETA follows the
   * carrier's latest word and a rebuild agrees. The latest received such duplicate counts
   * (as the fold orders revisions); one of an older scan, or one repeating the promise
   * already held, revises nothing.
   */
  private async revisedPromise(base: TrackingProjection, dups: readonly HistoryEntry[], now: number, metrics: TrackingTally): Promise<{ after: TrackingProjection; entry: HistoryEntry } | undefined> {
    const entry = this.revisionFor(base, dups);
    if (entry === undefined || (await this.d.store.tracking.appendHistory([entry])).size === 0) return undefined;
    const { after } = await this.fold(base.trackingNumber, base, [entry], now, metrics);
    metrics.count('promise_revised');
    return { after, entry };
  }

  /** The revision `dups` make of the scan `base` rests on, as a history entry; none when they make none. */
  private revisionFor(base: TrackingProjection, dups: readonly HistoryEntry[]): HistoryEntry | undefined {
    const { lastAppliedKey, lastEventTime, status } = base;
    if (lastAppliedKey === null || lastEventTime === null) return undefined;
    const scanHash = hashOfOrderKey(lastAppliedKey);
    // Each qualifying duplicate as the revision it would be; the last in the fold's own order
    // (when it was made: the provider's word for a promise with no scan, else the receive
    // time; then the promise) wins, so batching changes nothing.
    let best: { dup: HistoryEntry; promise: number; hash: string } | undefined;
    for (const d of dups) {
      const promise = d.event.estimatedDeliveryAt;
      if (promise === undefined || d.event.status !== status || Math.abs(d.event.eventTime - lastEventTime) > this.skewMs) continue;
      const hash = promiseRevisionHash(scanHash, d.revisedAt ?? d.receivedAt, promise);
      if (best === undefined || hash > best.hash) best = { dup: d, promise, hash };
    }
    if (best === undefined) return undefined;
    // A resend repeating the promise held leaves no row (every tracking_update would add one).
    // A promise its provider dated (edd_revise) does, repeated or not: an older revision
    // retried after it must find it and sort before it, not revise the promise it confirmed.
    if (best.promise === base.carrierPromise && best.dup.revisedAt === undefined) return undefined;
    // Older than a revision of this scan already folded: it would change nothing (the fold keeps the later word).
    const newest = hashOfOrderKey(base.maxKey ?? '');
    if (isPromiseRevision(newest) && revisedScanHash(newest) === scanHash && newest >= best.hash) return undefined;
    // At the revised scan's time, so it sorts right after it (a composite duplicate's own time may differ a little).
    return { ...best.dup, event: { ...best.dup.event, eventTime: lastEventTime }, eventJson: undefined, hash: best.hash, revisedAt: undefined };
  }

  /**
   * One number's accepted events onto its projection: fold steps when in order, else a
   * re-fold of its history; with each parcel's move (a recycled number's parcels that these
   * events ended, started or changed, oldest first).
   */
  private async fold(
    tn: string,
    before: TrackingProjection,
    list: readonly HistoryEntry[],
    now: number,
    metrics: TrackingTally,
  ): Promise<{ after: TrackingProjection; moves: TrackingChange[]; flaggedNow: number }> {
    const { store } = this.d;
    const steps: FoldEvent[] = list.map(foldEventOf).sort(compareKeys);
    if (isInOrder(before, steps)) {
      let after = before;
      const ends: TrackingProjection[] = [];
      const flags: Flag[] = [];
      for (const s of steps) {
        const { next, outcome } = foldStep(after, s);
        if (next.cycle > after.cycle) ends.push(after);
        after = next;
        if (outcome.kind === 'flagged') flags.push(outcome.flag);
      }
      if (flags.length > 0) await store.tracking.addFlags(tn, flags, now);
      metrics.count('flagged', flags.length);
      return { after, moves: movesInOrder(before, ends, after), flaggedNow: flags.length };
    }
    // A late event: the projection is the fold of the whole history again (rare), and each
    // parcel's move is told against the fold without this batch's events.
    const history = (await store.tracking.history(tn)).map(foldEventOf);
    const fresh = new Set(steps.map((e) => e.key));
    const folded = foldHistory(tn, before.carrier, history);
    const prior = foldHistory(tn, before.carrier, history.filter((e) => !fresh.has(e.key)));
    await store.tracking.replaceFlags(tn, folded.flags, now);
    metrics.count('refolds');
    // This batch's events the new fold refused (an older one it refuses now was counted when it came).
    const refused = new Set(folded.flags.map((f) => f.hash));
    const flaggedNow = list.filter((e) => refused.has(e.hash)).length;
    metrics.count('flagged', flaggedNow);
    return { after: folded.projection, moves: movesRefolded(before, prior, folded, history.map((e) => e.key), fresh), flaggedNow };
  }

  private async deadLetterUnreadable(rows: readonly UnreadableInboxRow[], tally: TrackingTally): Promise<void> {
    for (const r of rows) {
      const deadLetterId = newTrackingId('tdl');
      const reason = `inbox row unreadable: ${r.reason}`.slice(0, 500);
      await this.d.store.tracking.deadLetter({ id: deadLetterId, source: r.source, body: asBatch(r.eventJson), reason, receivedAt: r.receivedAt });
      this.log.error({ trackingNumber: r.trackingNumber, seq: r.seq, deadLetterId, reason }, 'tracking.inbox_row_unreadable');
    }
    await this.d.store.tracking.deleteInbox(rows.map((r) => r.seq));
    tally.count('dead_lettered', rows.length);
  }

  private async deadLetterAll(rows: readonly InboxRow[], err: unknown, tally: TrackingTally): Promise<void> {
    const reason = `apply failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
    const deadLetterIds: string[] = [];
    for (const r of rows) {
      const id = newTrackingId('tdl');
      deadLetterIds.push(id);
      await this.d.store.tracking.deadLetter({ id, source: r.source, body: asBatch(r.eventJson), reason, receivedAt: r.receivedAt });
    }
    tally.count('dead_lettered', rows.length);
    // The ids are what an operator replays once the cause is fixed (POST /admin/tracking/dead-letters/:id/replay).
    this.log.error({ trackingNumber: rows[0]?.trackingNumber, events: rows.length, deadLetterIds, err }, 'tracking.apply_dead_lettered');
  }
}


/**
 * A dead event's body as a canonical batch, `{"events":[…]}`: once its cause is fixed, an
 * operator replays it under its stored source (POST /admin/tracking/dead-letters/:id/replay,
 * tracking/dead-letter-replay.ts). Text that is no JSON is kept as it was.
 */
function asBatch(eventJson: string): string {
  try {
    JSON.parse(eventJson);
  } catch {
    return eventJson;
  }
  return `{"events":[${eventJson}]}`;
}

export function foldEventOf(h: HistoryEntry): FoldEvent {
  return { key: orderKey(h.event, h.hash), hash: h.hash, event: h.event, byLocker: h.source === 'locker' };
}

function sameMembers<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Appends `value` to the list under `key`, starting one when there is none. */
function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
