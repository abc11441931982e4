import type { CodeEntry } from '@locker/contract/codes/code-batch.js';

// The named parameters of a code_entries row, shared by the applier's inserts and updates
// and the stager's slices, so the two writers cannot drift apart on a column.

export interface EntryParams {
  tokenId: string;
  token: string;
  codeDigest: string | null;
  parcelId: string;
  compartmentId: string;
  size: string;
  kind: string;
  at: number;
}

export function entryParams(e: CodeEntry, at: number): EntryParams {
  return {
    tokenId: e.tokenId,
    token: e.token,
    codeDigest: e.codeDigest ?? null,
    parcelId: e.parcelId,
    compartmentId: e.compartmentId,
    size: e.size,
    kind: e.kind,
    at,
  };
}
