import type { CodeEntryState, StoredCodeEntry } from './runtime-store.js';
import type { CompartmentSize } from '@locker/contract/tokens/claims.js';

// The code_entries row as SQLite returns it, and its one mapping to the domain type.

export const CODE_ENTRY_COLUMNS =
  'token_id, token, code_digest, parcel_id, compartment_id, current_compartment_id, size, kind, state, deposited_at, closed_at';

export interface CodeEntryRow {
  token_id: string;
  token: string;
  code_digest: string | null;
  parcel_id: string;
  compartment_id: string;
  current_compartment_id: string;
  size: CompartmentSize;
  kind: 'pickup' | 'return-dropoff';
  state: CodeEntryState;
  deposited_at: number | null;
  closed_at: number | null;
}

export function toStoredEntry(row: CodeEntryRow): StoredCodeEntry {
  const entry: StoredCodeEntry = {
    tokenId: row.token_id,
    token: row.token,
    parcelId: row.parcel_id,
    compartmentId: row.compartment_id,
    size: row.size,
    kind: row.kind,
    state: row.state,
    currentCompartmentId: row.current_compartment_id,
  };
  if (row.code_digest !== null) entry.codeDigest = row.code_digest;
  if (row.deposited_at !== null) entry.depositedAt = row.deposited_at;
  if (row.closed_at !== null) entry.closedAt = row.closed_at;
  return entry;
}
