import { createHash } from 'node:crypto';

// The audit record hash, exactly as documented in sync/agent/device-sync-port.ts. Shared by the
// device (when appending) and the backend (when verifying an upload): any change here is a
// wire-format change.

/** prevHash of the very first record of a locker's chain. */
export const GENESIS_PREV_HASH = '0'.repeat(64);

export function auditRecordHash(prevHash: string, seq: number, at: number, type: string, dataJson: string): string {
  return createHash('sha256')
    .update(`${prevHash}\n${String(seq)}\n${String(at)}\n${type}\n${dataJson}`)
    .digest('hex');
}
