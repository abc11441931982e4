import type { KeyringRow } from './keyring.js';

// The keys a locker trusts = the bootstrap keys of its config file (`trustedKeys`, from the
// registration bundle, installed with the board) plus the rows code batches persisted.
// A board's database is empty at install, so without the bootstrap keys it could verify
// neither its first code batch nor a QR token. The store's row wins for a kid it knows:
// a batch that revoked a bootstrap key leaves a tombstone there, and the config file
// (which nobody edits after install) must not bring that key back at the next start.

export function mergeKeyringRows(bootstrap: readonly KeyringRow[], stored: readonly KeyringRow[]): KeyringRow[] {
  const byKid = new Map<string, KeyringRow>();
  for (const r of bootstrap) byKid.set(r.kid, r);
  for (const r of stored) byKid.set(r.kid, r);
  return [...byKid.values()];
}
