// Ed25519 and PASETO throughput with both adapters: `npx tsx scripts/bench/crypto.bench.ts`.
// Prints `name: value unit` lines. Each figure runs for a fixed time after a warm-up, so
// the whole file takes about 12 s on the 2-core board whatever the adapter speed.
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { Ed25519Kind } from '@locker/contract/crypto/ed25519.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { Keyring } from '@locker/contract/tokens/keyring.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { verifyToken } from '@locker/device/tokens/token-verifier.js';
import { opsPerSecond, print } from './bench-kit.js';

const lockerId = 'locker-bench-01';
const now = Date.parse('2026-11-22T12:00:00Z');
const message = new Uint8Array(120).fill(0x61); // the size FACTS.md measured

for (const kind of ['node-crypto', 'tweetnacl'] as const satisfies readonly Ed25519Kind[]) {
  const ed = createEd25519(kind);
  const label = kind.replace('-', '_');
  const seconds = kind === 'node-crypto' ? 2 : 2.5;
  const { seed, publicKey } = ed.generateKeyPair();
  const signer = ed.importPrivateKey(seed);
  const verifier = ed.importPublicKey(publicKey);
  const signature = ed.sign(signer, message);

  print(`ed25519_verify_per_s_${label}`, opsPerSecond(() => ed.verify(verifier, message, signature), seconds), 'ops/s');

  const issuer = new TokenIssuer({ ed, kid: 'k-bench', seed, issuer: 'backend' });
  const claims = {
    jti: 'tok_bench_0123456789',
    purpose: 'pickup' as const,
    iat: new Date(now - 3_600_000).toISOString(),
    nbf: new Date(now - 3_600_000).toISOString(),
    exp: new Date(now + 86_400_000).toISOString(),
    cmp: 'A7',
    par: 'PARCEL-0042',
  };
  const token = issuer.issue(lockerId, claims);
  const keyring = Keyring.fromRows(ed, [{ kid: 'k-bench', publicKey: keyToText(publicKey), revoked: false }]);
  const input = { token, lockerId, now, purposes: ['pickup'] as const };
  if (!verifyToken(input, keyring, ed).ok) throw new Error('benchmark token does not verify');
  print(`paseto_verify_per_s_${label}`, opsPerSecond(() => verifyToken(input, keyring, ed), seconds), 'ops/s');

  if (kind === 'node-crypto') {
    print(`token_sign_per_s_${label}`, opsPerSecond(() => issuer.issue(lockerId, claims), seconds), 'ops/s');
    print('token_length_chars', token.length, 'chars');
  }
}
