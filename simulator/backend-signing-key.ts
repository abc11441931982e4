import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import { keyToText, publicKeyFromText, seedFromText } from '@locker/contract/tokens/key-text.js';

// The simulated backend's token-signing key. Same file format as scripts/keygen.ts
// (<kid>.key = seed, <kid>.pub = public key, base64url), so an operator can swap in a key
// made by the script. Generated in the data dir at first run: a key in the repository
// would let anyone who reads it open every simulated (or, if reused, real) locker.

export interface SigningKey {
  kid: string;
  seed: Uint8Array;
  publicKey: Uint8Array;
  created: boolean;
}

const KEY_FILE = /^([A-Za-z0-9_-]{1,64})\.key$/;

/** Loads the newest (by kid, which sorts by date) key in `dir`, or generates one. */
export function loadOrCreateSigningKey(dir: string, ed: Ed25519, now: Date = new Date()): SigningKey {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const kids = readdirSync(dir)
    .map((name) => KEY_FILE.exec(name)?.[1])
    .filter((kid): kid is string => kid !== undefined)
    .sort();
  const existing = kids.at(-1);
  if (existing !== undefined) {
    const seed = seedFromText(readFileSync(join(dir, `${existing}.key`), 'utf8'));
    const publicKey = ed.importPrivateKey(seed).publicKey;
    const pubText = readFileSync(join(dir, `${existing}.pub`), 'utf8').trim();
    // A .pub that does not match its .key means someone edited one of them: say so.
    if (keyToText(publicKeyFromText(pubText)) !== keyToText(publicKey)) {
      throw new Error(`backend key ${existing}: .pub does not match .key`);
    }
    return { kid: existing, seed, publicKey, created: false };
  }
  const kid = `sim-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(6).toString('base64url')}`;
  const { publicKey, seed } = ed.generateKeyPair();
  writeFileSync(join(dir, `${kid}.key`), `${keyToText(seed)}\n`, { mode: 0o600, flag: 'wx' });
  writeFileSync(join(dir, `${kid}.pub`), `${keyToText(publicKey)}\n`, { mode: 0o644, flag: 'wx' });
  return { kid, seed, publicKey, created: true };
}
