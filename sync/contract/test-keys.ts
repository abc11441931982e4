import { createEd25519 } from './crypto/create-ed25519.js';
import type { Ed25519 } from './crypto/ed25519.js';
import { keyToText } from './tokens/key-text.js';
import { Keyring } from './tokens/keyring.js';
import type { KeyringRow } from './tokens/keyring.js';
import { BackendSigner } from './backend-signer.js';

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
