import type { Ed25519 } from '../../device/crypto/ed25519.js';
import type { KeyringRow } from '../../device/store/runtime-store.js';
import { Keyring, type KeyResolver } from '../../device/tokens/keyring.js';

// The agent's `keys` dependency from persisted keyring rows (RuntimeStore.keyringRows()).
// Rebuilt only when the rows change (a batch with keyring changes), so keys are imported
// once, not per message (FACTS.md: re-importing halves node:crypto's verify rate).

export function keyringSource(ed: Ed25519, rows: () => KeyringRow[]): () => KeyResolver {
  let cachedKey = '';
  let cached: Keyring = Keyring.empty(ed);
  return () => {
    const current = rows();
    const key = JSON.stringify(current);
    if (key !== cachedKey) {
      cached = Keyring.fromRows(ed, current);
      cachedKey = key;
    }
    return cached;
  };
}

/**
 * The rows a locker trusts: keys provisioned at install (config) plus the rows code batches
 * changed (the store). The store's row wins for a kid it knows, so a batch that revoked a
 * provisioned key keeps it revoked across restarts.
 */
export function mergeKeyringRows(provisioned: readonly KeyringRow[], stored: readonly KeyringRow[]): KeyringRow[] {
  const byKid = new Map<string, KeyringRow>();
  for (const r of provisioned) byKid.set(r.kid, r);
  for (const r of stored) byKid.set(r.kid, r);
  return [...byKid.values()];
}
