// One audit record as the device stores and uploads it, and the backend verifies it.

export type AuditLane = 'priority' | 'normal';

/**
 * `dataJson` is the exact JSON text that was hashed, so the receiver can recompute the
 * chain without canonicalising anything:
 *   hash = sha256_hex(prevHash + "\n" + seq + "\n" + at + "\n" + type + "\n" + dataJson)
 * with prevHash of the first record = 64 zeros. See audit-hash.ts.
 */
export interface AuditRecord {
  seq: number;
  /** Epoch ms (trusted time, see the clock floor). */
  at: number;
  type: string;
  lane: AuditLane;
  dataJson: string;
  prevHash: string;
  hash: string;
}
