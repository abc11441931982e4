import { GENESIS_PREV_HASH, MAX_ALSO_SEQS, auditRecordHash, parseAuditEvent, type AuditRecordWire } from '../shared/contract.js';
import type { Alerts } from '../lockers/alerts.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { mapAuditEvent, type EventMapDeps } from './audit-event-map.js';

// Audit upload ingest. Idempotent on (locker, seq): a duplicate changes nothing. Each
// record's hash is recomputed and linked to its stored neighbours; any mismatch (a bad
// hash, a broken link, a known seq arriving with another hash) flags a chain break for
// the locker and raises an alert — the records are still kept as evidence.
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
  contiguousSeq: number;
  alsoSeqs: number[];
  inserted: number;
  duplicates: number;
  chainBreaks: number[];
  /** Seqs of records newly kept for review (unknown type or invalid data). */
  keptForReview: number[];
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
   * `lockerAckedSeq` is the upload's own acked watermark: records up to it were
   * acknowledged before (by us, before a restore, or before the locker pruned them), so the
   * contiguous prefix starts there at least (docs/protocol.md, audit-ack).
   */
  ingest(lockerId: string, records: readonly AuditRecordWire[], lockerAckedSeq = 0): IngestResult {
    const { store } = this;
    const now = this.clock.now();
    return store.transaction(() => {
      let inserted = 0;
      let duplicates = 0;
      const breaks: number[] = [];
      const review: number[] = [];
      for (const rec of records) {
        const row = { lockerId, seq: rec.seq, at: rec.at, type: rec.type, lane: rec.lane, dataJson: rec.dataJson, prevHash: rec.prevHash, hash: rec.hash };
        const existing = store.audit.get(lockerId, rec.seq);
        if (existing !== undefined) {
          duplicates++;
          if (existing.hash !== rec.hash) breaks.push(rec.seq);
          continue;
        }
        if (auditRecordHash(rec.prevHash, rec.seq, rec.at, rec.type, rec.dataJson) !== rec.hash) breaks.push(rec.seq);
        store.audit.insert(row, now);
        inserted++;
        if (this.reviewIfRefused(lockerId, rec, now)) review.push(rec.seq);
        const before = rec.seq === 1 ? { hash: GENESIS_PREV_HASH } : store.audit.get(lockerId, rec.seq - 1);
        if (before !== undefined && before.hash !== rec.prevHash) breaks.push(rec.seq);
        const after = store.audit.get(lockerId, rec.seq + 1);
        if (after !== undefined && after.prevHash !== rec.hash) breaks.push(rec.seq + 1);
      }
      for (const seq of new Set(breaks)) {
        store.audit.flagChainBreak(lockerId, seq);
        this.alerts.raise(lockerId, 'audit.chain-break', String(seq), { seq });
        this.log.error({ lockerId, seq }, 'audit.chain_break');
      }
      let contiguous = Math.max(store.audit.contiguousSeq(lockerId), lockerAckedSeq);
      while (store.audit.get(lockerId, contiguous + 1) !== undefined) contiguous++;
      store.audit.setContiguousSeq(lockerId, contiguous);
      for (const r of store.audit.unprocessed(lockerId, contiguous, true)) {
        // Each mapping runs in its own savepoint: one event the backend cannot act on is
        // logged and skipped, never a reason to refuse (and so re-receive) the upload.
        try {
          const outcome = store.transaction(() => mapAuditEvent(r, this.effects));
          if (outcome !== 'unmapped') this.log.debug({ lockerId, seq: r.seq, type: r.type, outcome }, 'audit.mapped');
        } catch (err) {
          this.log.error({ lockerId, seq: r.seq, type: r.type, err: err instanceof Error ? err.message : String(err) }, 'audit.map_failed');
        }
        store.audit.markProcessed(lockerId, r.seq);
      }
      const alsoSeqs = records
        .map((r) => r.seq)
        .filter((s) => s > contiguous)
        .sort((a, b) => a - b)
        .slice(0, MAX_ALSO_SEQS);
      return { contiguousSeq: contiguous, alsoSeqs, inserted, duplicates, chainBreaks: [...new Set(breaks)], keptForReview: review };
    });
  }

  /** True when the contract refuses the record and it was newly kept for review. */
  private reviewIfRefused(lockerId: string, rec: AuditRecordWire, now: number): boolean {
    const parsed = parseAuditEvent(rec.type, rec.dataJson);
    if (parsed.ok) return false;
    const kept = this.store.audit.keepForReview({ lockerId, seq: rec.seq, type: rec.type.slice(0, 64), reason: parsed.reason, detail: parsed.detail.slice(0, 1000), receivedAt: now });
    if (kept) {
      this.log.warn({ lockerId, seq: rec.seq, type: rec.type.slice(0, 64), reason: parsed.reason, detail: parsed.detail.slice(0, 200), reviewCount: this.store.audit.reviewCount(lockerId) }, 'audit.event_rejected');
    }
    return kept;
  }
}
