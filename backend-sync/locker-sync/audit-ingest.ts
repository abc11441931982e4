import { GENESIS_PREV_HASH, auditRecordHash, parseAuditEvent, type AuditRecordWire } from '../shared/contract.js';
import type { Alerts } from '../lockers/alerts.js';
import type { Clock } from '../shared/clock.js';
import { isBackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { isDbUnavailableError } from '../store/db-unavailable.js';
import { isRetryableDbError } from '../store/retryable-error.js';
import type { Store } from '../store/store.js';
import { ackableSeq, lowestBreakAbove } from './ack-vouching.js';
import { mapAuditEvent, type EventMapDeps } from './audit-event-map.js';

// Audit upload ingest, per device database epoch (docs/decisions/0023): a locker whose
// database was replaced numbers its records from 1 again, so records are keyed by
// (locker, epoch, seq) and each epoch's chain, watermark and breaks are its own.
// Idempotent on (locker, epoch, seq): a duplicate with the same hash changes nothing. Each
// record's hash is recomputed and linked to its stored neighbours; a bad hash or a broken
// link flags a chain break for that epoch and raises an alert — the record is still kept as
// evidence. A record arriving for an occupied seq with ANOTHER hash is not stored in the
// chain (it is kept aside in audit_conflicts), raises an alert and is never acknowledged:
// the ack promises that the backend holds the record the locker sent, and it does not.
// Business effects run in sequence order, once per record, as the contiguous prefix grows
// (priority-lane records — security, faults — are acted on as soon as they arrive).
// Everything happens in one transaction, so the ack we send afterwards covers only what
// is durably stored.
// Every new record's data is parsed through its type's schema (sync/contract/audit-events).
// A type the contract does not know, or data it refuses, is never silently ignored: it is
// logged (audit.event_rejected), kept in the review table and counted per locker. The
// record itself is stored like any other, so the chain still verifies over its raw
// dataJson and the ack still advances past it (refusing it would make the locker resend
// it forever).

export interface IngestResult {
  /**
   * What the ack may promise: the stored contiguous prefix, but no further than this
   * upload's own highest record the backend holds hash for hash (or the locker's acked
   * watermark). A matching hash at seq n vouches, through the hash chain, for the locker's
   * records up to n — as long as the stored chain has no break between the locker's acked
   * watermark and n (any break, not only the epoch's lowest, nor any record the backend does
   * not hold: ack-vouching.ts); it says nothing about the locker's records above n. A restored copy
   * holds other records than the backend at seqs the original wrote after the backup, and
   * an ack covering them would make the locker forget records the backend never stored.
   */
  contiguousSeq: number;
  /** Held seqs of this upload above `contiguousSeq`, ascending (up to MAX_UPLOAD_RECORDS). */
  alsoSeqs: number[];
  inserted: number;
  duplicates: number;
  chainBreaks: number[];
  /** Seqs of records newly kept for review (unknown type or invalid data). */
  keptForReview: number[];
  /** Seqs that arrived with another hash than the stored record's: not acknowledged. */
  conflicts: number[];
}

export class AuditIngest {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly alerts: Alerts,
    private readonly effects: EventMapDeps,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'audit-ingest' });
  }

  /**
   * `lockerAckedSeq` is the upload's own acked watermark (for this epoch): records up to it
   * were acknowledged before (by us, before a restore, or before the locker pruned them), so
   * the contiguous prefix starts there at least (docs/protocol.md, audit-ack).
   */
  ingest(lockerId: string, epoch: string, records: readonly AuditRecordWire[], lockerAckedSeq = 0): Promise<IngestResult> {
    const { store } = this;
    const now = this.clock.now();
    return store.transaction(async (): Promise<IngestResult> => {
      // One upload of a locker at a time, across instances: its two lanes arrive as separate
      // messages and may reach two instances, and each must see the other's records to grow
      // the contiguous prefix and act on them. The code set's row lock serves as the
      // locker's lock (PostgreSQL; SQLite's transaction is exclusive anyway).
      await store.codeSets.ensure(lockerId);
      let inserted = 0;
      let duplicates = 0;
      const breaks: number[] = [];
      const review: number[] = [];
      const conflicts: number[] = [];
      /** Seqs of this upload whose record the backend now holds, byte for byte. */
      const held = new Set<number>();
      for (const rec of records) {
        const row = { lockerId, epoch, seq: rec.seq, at: rec.at, type: rec.type, lane: rec.lane, dataJson: rec.dataJson, prevHash: rec.prevHash, hash: rec.hash };
        const existing = await store.audit.get(lockerId, epoch, rec.seq);
        if (existing !== undefined) {
          if (existing.hash === rec.hash) {
            duplicates++;
            held.add(rec.seq);
          } else {
            await store.audit.recordConflict(row, now);
            conflicts.push(rec.seq);
          }
          continue;
        }
        if (auditRecordHash(rec.prevHash, rec.seq, rec.at, rec.type, rec.dataJson) !== rec.hash) breaks.push(rec.seq);
        // Insert-if-absent; under the locker's lock taken above nobody stored it since the read.
        await store.audit.insert(row, now);
        inserted++;
        held.add(rec.seq);
        if (await this.reviewIfRefused(lockerId, epoch, rec, now)) review.push(rec.seq);
        const before = rec.seq === 1 ? { hash: GENESIS_PREV_HASH } : await store.audit.get(lockerId, epoch, rec.seq - 1);
        if (before !== undefined && before.hash !== rec.prevHash) breaks.push(rec.seq);
        const after = await store.audit.get(lockerId, epoch, rec.seq + 1);
        if (after !== undefined && after.prevHash !== rec.hash) breaks.push(rec.seq + 1);
      }
      for (const seq of new Set(breaks)) await this.chainBreak(lockerId, epoch, seq, 'hash-chain');
      for (const seq of new Set(conflicts)) await this.chainBreak(lockerId, epoch, seq, 'conflicting-record');
      // A conflict inside the acknowledged prefix: the prefix no longer promises the
      // locker's records, so it ends before the conflict (a re-ack must not cover it).
      if (conflicts.length > 0) await store.audit.capContiguousSeq(lockerId, epoch, Math.min(...conflicts) - 1);
      let contiguous = Math.max(await store.audit.contiguousSeq(lockerId, epoch), lockerAckedSeq);
      // Stops before a seq whose record the locker sent differently: that one is not ours to ack.
      while ((await store.audit.get(lockerId, epoch, contiguous + 1)) !== undefined && !(await store.audit.hasConflict(lockerId, epoch, contiguous + 1))) contiguous++;
      await store.audit.setContiguousSeq(lockerId, epoch, contiguous);
      for (const r of await store.audit.unprocessed(lockerId, epoch, contiguous, true)) {
        // Conditional, and first: a record is acted on once even if it was mapped meanwhile.
        if (!(await store.audit.markProcessed(lockerId, epoch, r.seq))) continue;
        // Each mapping runs in its own savepoint: one event the backend cannot act on is
        // logged and skipped, never a reason to refuse (and so re-receive) the upload.
        try {
          const outcome = await store.transaction(() => mapAuditEvent(r, this.effects, this.log));
          if (outcome !== 'unmapped') this.log.debug({ lockerId, epoch, seq: r.seq, type: r.type, outcome }, 'audit.mapped');
        } catch (err) {
          // A deadlock or serialisation failure, a row another instance changed under us,
          // or the database gone (a query timeout, a dropped connection) is not the event's
          // fault: the whole upload runs again (the executor retries the first two; the
          // locker resends an unacknowledged upload), or the record would be acked
          // unapplied, and every later record logged as map_failed for an outage.
          if (isRetryableDbError(err) || isDbUnavailableError(err) || isBackendError(err, 'CONFLICT')) throw err;
          this.log.error({ lockerId, epoch, seq: r.seq, type: r.type, err: err instanceof Error ? err.message : String(err) }, 'audit.map_failed');
        }
      }
      const upTo = Math.min(contiguous, Math.max(lockerAckedSeq, ...held));
      const ackable = ackableSeq(contiguous, lockerAckedSeq, held, await lowestBreakAbove(store.audit, lockerId, epoch, lockerAckedSeq, upTo));
      // Held seqs above what the ack covers go individually (the locker's watermark follows
      // them): the backend holds each of these records exactly as sent. All of them, at most
      // one upload's worth: the bridge splits them over as many acks as their seals need
      // (BackendSigner.auditAcks), so an upload processed ahead of its predecessor (another
      // instance, a shared subscription) is acknowledged whole, not left to time out.
      const alsoSeqs = [...held].filter((s) => s > ackable).sort((a, b) => a - b);
      return { contiguousSeq: ackable, alsoSeqs, inserted, duplicates, chainBreaks: [...new Set(breaks)], conflicts: [...new Set(conflicts)], keptForReview: review };
    });
  }

  /** True when the contract refuses the record and it was newly kept for review. */
  private async reviewIfRefused(lockerId: string, epoch: string, rec: AuditRecordWire, now: number): Promise<boolean> {
    const parsed = parseAuditEvent(rec.type, rec.dataJson);
    if (parsed.ok) return false;
    const kept = await this.store.audit.keepForReview({ lockerId, epoch, seq: rec.seq, type: rec.type.slice(0, 64), reason: parsed.reason, detail: parsed.detail.slice(0, 1000), receivedAt: now });
    if (kept) {
      this.log.warn({ lockerId, epoch, seq: rec.seq, type: rec.type.slice(0, 64), reason: parsed.reason, detail: parsed.detail.slice(0, 200), reviewCount: await this.store.audit.reviewCount(lockerId) }, 'audit.event_rejected');
    }
    return kept;
  }

  private async chainBreak(lockerId: string, epoch: string, seq: number, reason: 'hash-chain' | 'conflicting-record'): Promise<void> {
    await this.store.audit.flagChainBreak(lockerId, epoch, seq);
    // One alert per kind of break at a seq: an altered record and another database's record
    // at the same seq are two findings. (A hash-chain break keeps the key it always had, so
    // alerts raised before this release are not raised again.)
    const key = reason === 'hash-chain' ? `${epoch}:${String(seq)}` : `${epoch}:${String(seq)}:conflict`;
    const raised = await this.alerts.raise(lockerId, 'audit.chain-break', key, { epoch, seq, reason });
    // A locker resends what it has not seen acked; the break was paged the first time.
    if (raised) this.log.error({ lockerId, epoch, seq, reason }, 'audit.chain_break');
    else this.log.debug({ lockerId, epoch, seq, reason }, 'audit.chain_break_repeated');
  }
}
