import { GENESIS_PREV_HASH, MAX_ALSO_SEQS, auditRecordHash, type AuditRecordWire } from '../shared/contract.js';
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

export interface IngestResult {
  contiguousSeq: number;
  alsoSeqs: number[];
  inserted: number;
  duplicates: number;
  chainBreaks: number[];
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
      return { contiguousSeq: contiguous, alsoSeqs, inserted, duplicates, chainBreaks: [...new Set(breaks)] };
    });
  }
}
