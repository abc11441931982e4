import { describe, expect, it } from 'vitest';
import { Keyring } from './tokens/keyring.js';
import { makeTestKeys } from './test-keys.js';
import { AuditAckClaims } from './audit-messages.js';
import { openSeal, signSeal } from './backend-seal.js';
import { CodeBatchManifest } from './code-messages.js';
import { CommandClaims, MAX_COMMAND_LIFETIME_MS } from './command-messages.js';

const now = 1_767_225_600_000;
const EPOCH = '0123456789abcdef0123456789abcdef';

describe('backend seal', () => {
  const keys = makeTestKeys(() => now);

  it('opens a command sealed for this locker with a trusted key', () => {
    const msg = keys.signer.command('locker-a', EPOCH, 'txn-00000001', { kind: 'resync' }, 60_000);
    const opened = openSeal(keys.ed, keys.keyring, msg.seal, 'locker-a', CommandClaims, now);
    expect(opened.ok && opened.claims.transactionId).toBe('txn-00000001');
  });

  it('refuses a seal made for another locker', () => {
    const msg = keys.signer.command('locker-b', EPOCH, 'txn-00000001', { kind: 'resync' }, 60_000);
    const opened = openSeal(keys.ed, keys.keyring, msg.seal, 'locker-a', CommandClaims, now);
    expect(opened).toMatchObject({ ok: false, reason: 'signature-invalid' });
  });

  it('refuses a seal signed by an untrusted key under a trusted kid', () => {
    const msg = keys.stranger.command('locker-a', EPOCH, 'txn-00000001', { kind: 'resync' }, 60_000);
    expect(openSeal(keys.ed, keys.keyring, msg.seal, 'locker-a', CommandClaims, now)).toMatchObject({ ok: false, reason: 'signature-invalid' });
  });

  it('refuses an unknown, revoked or retired kid', () => {
    const msg = keys.signer.command('locker-a', EPOCH, 'txn-00000001', { kind: 'resync' }, 60_000);
    expect(openSeal(keys.ed, Keyring.empty(keys.ed), msg.seal, 'locker-a', CommandClaims, now)).toMatchObject({ reason: 'key-unknown' });
    const revoked = keys.keyring.apply({ op: 'revoke', kid: 'backend-1' }).keyring;
    expect(openSeal(keys.ed, revoked, msg.seal, 'locker-a', CommandClaims, now)).toMatchObject({ reason: 'key-revoked' });
    const retired = Keyring.fromRows(keys.ed, [{ ...keys.rows[0]!, notAfter: now - 1 }]);
    expect(openSeal(keys.ed, retired, msg.seal, 'locker-a', CommandClaims, now)).toMatchObject({ reason: 'key-retired' });
  });

  it('does not accept the seal of one message type as another', () => {
    const ack = keys.signer.auditAck('locker-a', EPOCH, 5, []);
    expect(openSeal(keys.ed, keys.keyring, ack.seal, 'locker-a', CommandClaims, now)).toMatchObject({ ok: false, reason: 'wrong-typ' });
    expect(openSeal(keys.ed, keys.keyring, ack.seal, 'locker-a', CodeBatchManifest, now)).toMatchObject({ ok: false });
    expect(openSeal(keys.ed, keys.keyring, ack.seal, 'locker-a', AuditAckClaims, now).ok).toBe(true);
  });

  it('refuses a genuinely signed command valid for longer than five minutes', () => {
    const key = keys.ed.importPrivateKey(keys.seed);
    const claims = (lifetime: number) => ({ typ: 'command', lockerId: 'locker-a', dbEpoch: EPOCH, transactionId: 'txn-00000001', iat: now, exp: now + lifetime, command: { kind: 'resync' } });
    const long = signSeal(keys.ed, key, 'backend-1', 'locker-a', claims(24 * 3_600_000));
    expect(openSeal(keys.ed, keys.keyring, long, 'locker-a', CommandClaims, now)).toMatchObject({ ok: false });
    const justOver = signSeal(keys.ed, key, 'backend-1', 'locker-a', claims(MAX_COMMAND_LIFETIME_MS + 1));
    expect(openSeal(keys.ed, keys.keyring, justOver, 'locker-a', CommandClaims, now)).toMatchObject({ ok: false });
    const within = signSeal(keys.ed, key, 'backend-1', 'locker-a', claims(MAX_COMMAND_LIFETIME_MS));
    expect(openSeal(keys.ed, keys.keyring, within, 'locker-a', CommandClaims, now).ok).toBe(true);
  });

  it('refuses a command without a database epoch (issued before epochs existed)', () => {
    const key = keys.ed.importPrivateKey(keys.seed);
    const seal = signSeal(keys.ed, key, 'backend-1', 'locker-a', { typ: 'command', lockerId: 'locker-a', transactionId: 'txn-00000001', iat: now, exp: now + 60_000, command: { kind: 'resync' } });
    expect(openSeal(keys.ed, keys.keyring, seal, 'locker-a', CommandClaims, now)).toMatchObject({ ok: false });
  });

  it('reports garbage as malformed instead of throwing', () => {
    for (const junk of ['', 'v4.public.', 'v4.public.!!!', 'v2.local.abc', 'x'.repeat(5000)]) {
      expect(openSeal(keys.ed, keys.keyring, junk, 'locker-a', CommandClaims, now)).toMatchObject({ ok: false, reason: 'seal-malformed' });
    }
  });
});

describe('audit ack seal size', () => {
  it('fits the largest ack (MAX_ALSO_SEQS nine-digit seqs) under the 2 KiB token bound', async () => {
    const { MAX_ALSO_SEQS } = await import('./audit-messages.js');
    const keys = makeTestKeys(() => now);
    const seqs = Array.from({ length: MAX_ALSO_SEQS }, (_, i) => 999_999_000 - i);
    const ack = keys.signer.auditAck('locker-with-a-rather-long-identifier-0001', EPOCH, 999_999_999, seqs);
    expect(ack.seal.length).toBeLessThanOrEqual(2048);
  });
});
