import type { AuditRecord } from './audit-record.js';
import { auditRecordHash } from './audit-hash.js';

export type AuditChainCheck =
  | { ok: true; records: number; firstSeq: number; lastSeq: number }
  | { ok: false; brokenAtSeq: number; reason: 'hash-mismatch' | 'prev-hash-mismatch' | 'sequence-gap' };

// Pure verification of a run of audit records, for the device (its own log) and the
// backend (an upload). The records must be consecutive by seq. `expectedPrevHash` anchors
// the first record: GENESIS_PREV_HASH for a chain that starts at seq 1, the hash of the
// last pruned record for a pruned log, or the hash the receiver already holds; without it
// the first record's prevHash is taken on trust and only the links after it are checked.

export type ChainedRecord = Pick<AuditRecord, 'seq' | 'at' | 'type' | 'dataJson' | 'prevHash' | 'hash'>;

export function verifyAuditChain(records: Iterable<ChainedRecord>, expectedPrevHash?: string): AuditChainCheck {
  let count = 0;
  let firstSeq = 0;
  let lastSeq = 0;
  let prevHash = expectedPrevHash;
  for (const r of records) {
    if (count > 0 && r.seq !== lastSeq + 1) return { ok: false, brokenAtSeq: r.seq, reason: 'sequence-gap' };
    if (prevHash !== undefined && r.prevHash !== prevHash) return { ok: false, brokenAtSeq: r.seq, reason: 'prev-hash-mismatch' };
    if (auditRecordHash(r.prevHash, r.seq, r.at, r.type, r.dataJson) !== r.hash) {
      return { ok: false, brokenAtSeq: r.seq, reason: 'hash-mismatch' };
    }
    if (count === 0) firstSeq = r.seq;
    count++;
    lastSeq = r.seq;
    prevHash = r.hash;
  }
  return { ok: true, records: count, firstSeq, lastSeq };
}
