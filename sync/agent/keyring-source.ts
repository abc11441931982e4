import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import type { KeyringRow } from '@locker/contract/tokens/keyring.js';
import { Keyring, type KeyResolver } from '@locker/contract/tokens/keyring.js';

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

// The merge rule lives with the device (its runtime verifies tokens with the same keys).
export { mergeKeyringRows } from '@locker/contract/tokens/bootstrap-keyring.js';
