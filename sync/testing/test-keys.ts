import { createEd25519 } from '../../device/crypto/create-ed25519.js';
import type { Ed25519 } from '../../device/crypto/ed25519.js';
import { keyToText } from '../../device/tokens/key-text.js';
import { Keyring } from '../../device/tokens/keyring.js';
import type { KeyringRow } from '../../device/store/runtime-store.js';
import { BackendSigner } from '../contract/backend-signer.js';

// Real Ed25519 keys for tests: a backend signer and the keyring a locker would hold.

export interface TestKeys {
  ed: Ed25519;
  signer: BackendSigner;
  /** A second key the locker does NOT trust (forgeries). */
  stranger: BackendSigner;
  rows: KeyringRow[];
  keyring: Keyring;
  /** The backend key's seed, for tests that need a second signer with another clock. */
  seed: Uint8Array;
}

export function makeTestKeys(now: () => number = Date.now, kid = 'backend-1'): TestKeys {
  const ed = createEd25519('node-crypto');
  const pair = ed.generateKeyPair();
  const other = ed.generateKeyPair();
  const signer = new BackendSigner({ ed, kid, seed: pair.seed, now });
  const stranger = new BackendSigner({ ed, kid, seed: other.seed, now });
  const rows: KeyringRow[] = [{ kid, publicKey: keyToText(pair.publicKey), revoked: false }];
  return { ed, signer, stranger, rows, keyring: Keyring.fromRows(ed, rows), seed: pair.seed };
}
