import { describe, expect, it } from 'vitest';
import { createEd25519 } from '../crypto/create-ed25519.js';
import type { KeyringRow } from './keyring.js';
import { keyToText } from './key-text.js';
import { Keyring, applyKeyringChange, reinstateKid } from './keyring.js';

const ed = createEd25519('node-crypto');
const keyA = keyToText(ed.generateKeyPair().publicKey);
const keyB = keyToText(ed.generateKeyPair().publicKey);
const now = Date.parse('2026-11-22T04:00:00Z');

describe('Keyring', () => {
  it('trusts several keys at once by kid and imports each once', () => {
    const keyring = Keyring.fromRows(ed, [
      { kid: 'k-a', publicKey: keyA, revoked: false },
      { kid: 'k-b', publicKey: keyB, notAfter: now + 1000, revoked: false },
    ]);
    const a1 = keyring.lookup('k-a', now);
    const a2 = keyring.lookup('k-a', now + 10);
    expect(a1.status).toBe('trusted');
    expect(a1.status === 'trusted' && a2.status === 'trusted' && a1.key === a2.key).toBe(true);
    expect(keyring.lookup('k-b', now).status).toBe('trusted');
    expect(keyring.lookup('k-c', now).status).toBe('unknown');
  });

  it('retires a key after its notAfter instant, not at it', () => {
    const keyring = Keyring.fromRows(ed, [{ kid: 'k-a', publicKey: keyA, notAfter: now, revoked: false }]);
    expect(keyring.lookup('k-a', now).status).toBe('trusted');
    expect(keyring.lookup('k-a', now + 1).status).toBe('retired');
    expect(keyring.lookup('k-a', Number.NaN).status).toBe('retired');
  });

  it('reports a revoked kid as revoked and never imports its key', () => {
    const keyring = Keyring.fromRows(ed, [{ kid: 'k-a', publicKey: 'not a key', revoked: true }]);
    expect(keyring.lookup('k-a', now).status).toBe('revoked');
    expect(keyring.invalidKids).toEqual([]);
  });

  it('treats a row whose key does not decode as unknown and lists it, keeping the other keys', () => {
    const rows: KeyringRow[] = [
      { kid: 'k-bad', publicKey: 'AAAA', revoked: false },
      { kid: 'k-a', publicKey: keyA, revoked: false },
    ];
    const keyring = Keyring.fromRows(ed, rows);
    expect(keyring.invalidKids).toEqual(['k-bad']);
    expect(keyring.lookup('k-bad', now).status).toBe('unknown');
    expect(keyring.lookup('k-a', now).status).toBe('trusted');
    expect(keyring.rows().map((r) => r.kid)).toEqual(['k-a', 'k-bad']);
  });

  it('applies a rotation: trust the new key, then retire the old one with notAfter', () => {
    let keyring = Keyring.fromRows(ed, [{ kid: 'k-old', publicKey: keyA, revoked: false }]);
    const before = keyring.lookup('k-old', now);
    let step = keyring.apply({ op: 'trust', kid: 'k-new', publicKey: keyB });
    expect(step.outcome).toBe('trusted');
    keyring = step.keyring;
    step = keyring.apply({ op: 'trust', kid: 'k-old', publicKey: keyA, notAfter: now + 60_000 });
    expect(step.outcome).toBe('updated');
    keyring = step.keyring;
    const after = keyring.lookup('k-old', now);
    expect(before.status === 'trusted' && after.status === 'trusted' && before.key === after.key).toBe(true);
    expect(keyring.lookup('k-old', now + 60_001).status).toBe('retired');
    expect(keyring.lookup('k-new', now + 60_001).status).toBe('trusted');
    expect(keyring.rows()).toEqual([
      { kid: 'k-new', publicKey: keyB, revoked: false },
      { kid: 'k-old', publicKey: keyA, notAfter: now + 60_000, revoked: false },
    ]);
  });

  it('keeps a revoked kid revoked when a later batch tries to trust it again', () => {
    let keyring = Keyring.fromRows(ed, [{ kid: 'k-a', publicKey: keyA, revoked: false }]);
    keyring = keyring.apply({ op: 'revoke', kid: 'k-a' }).keyring;
    expect(keyring.lookup('k-a', now).status).toBe('revoked');
    const again = keyring.apply({ op: 'trust', kid: 'k-a', publicKey: keyA });
    expect(again.outcome).toBe('refused-revoked');
    expect(again.keyring.lookup('k-a', now).status).toBe('revoked');
  });

  it('remembers the revocation of a kid it never trusted', () => {
    const keyring = Keyring.empty(ed).apply({ op: 'revoke', kid: 'k-future' }).keyring;
    expect(keyring.lookup('k-future', now).status).toBe('revoked');
    expect(keyring.apply({ op: 'trust', kid: 'k-future', publicKey: keyA }).outcome).toBe('refused-revoked');
  });

  it('refuses to re-point a known kid at another public key', () => {
    const keyring = Keyring.fromRows(ed, [{ kid: 'k-a', publicKey: keyA, revoked: false }]);
    const step = keyring.apply({ op: 'trust', kid: 'k-a', publicKey: keyB });
    expect(step.outcome).toBe('refused-key-mismatch');
    expect(step.keyring).toBe(keyring);
  });

  it('reports repeated changes as unchanged', () => {
    const rows: KeyringRow[] = [{ kid: 'k-a', publicKey: keyA, revoked: false }];
    expect(applyKeyringChange(rows, { op: 'trust', kid: 'k-a', publicKey: keyA }).outcome).toBe('unchanged');
    const revoked = applyKeyringChange(rows, { op: 'revoke', kid: 'k-a' });
    expect(applyKeyringChange(revoked.rows, { op: 'revoke', kid: 'k-a' }).outcome).toBe('unchanged');
    expect(rows).toEqual([{ kid: 'k-a', publicKey: keyA, revoked: false }]);
  });

  it('refuses a trust whose key text is not 32 bytes of base64url', () => {
    expect(applyKeyringChange([], { op: 'trust', kid: 'k-a', publicKey: `${'A'.repeat(42)}B` }).outcome).toBe('refused-invalid-key');
  });

  it('lets an explicit reinstate forget a revocation so the kid can be trusted again', () => {
    const revoked = applyKeyringChange([], { op: 'revoke', kid: 'k-a' }).rows;
    const cleared = reinstateKid(revoked, 'k-a');
    expect(applyKeyringChange(cleared, { op: 'trust', kid: 'k-a', publicKey: keyA }).outcome).toBe('trusted');
  });
});
