import { GENESIS_PREV_HASH, auditRecordHash, type AuditRecordWire } from '../shared/contract.js';

/** A hash-chained run of records from seq 1, as a locker would upload them. */
export function auditChain(events: ReadonlyArray<{ type: string; data: Record<string, unknown>; at: number }>): AuditRecordWire[] {
  let prev = GENESIS_PREV_HASH;
  return events.map((e, i) => {
    const seq = i + 1;
    const dataJson = JSON.stringify(e.data);
    const hash = auditRecordHash(prev, seq, e.at, e.type, dataJson);
    const rec: AuditRecordWire = { seq, at: e.at, type: e.type, lane: 'normal', dataJson, prevHash: prev, hash };
    prev = hash;
    return rec;
  });
}
