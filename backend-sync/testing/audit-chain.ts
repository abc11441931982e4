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

/**
 * Records 1..n of one chain of `door.closed` events (at 1_000 + seq), each in the lane
 * `laneOf` gives it: what the ack tests upload in windows, out of order and ahead.
 */
export function doorClosedChain(n: number, laneOf: (seq: number) => AuditRecordWire['lane'] = () => 'normal'): AuditRecordWire[] {
  let prevHash = GENESIS_PREV_HASH;
  const out: AuditRecordWire[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const dataJson = JSON.stringify({ compartmentId: 'M1', openMs: seq, commanded: false });
    const hash = auditRecordHash(prevHash, seq, 1_000 + seq, 'door.closed', dataJson);
    out.push({ seq, at: 1_000 + seq, type: 'door.closed', lane: laneOf(seq), dataJson, prevHash, hash });
    prevHash = hash;
  }
  return out;
}
