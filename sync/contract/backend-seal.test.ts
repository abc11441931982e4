import { describe, expect, it } from 'vitest';
import { Keyring } from '../../device/tokens/keyring.js';
import { makeTestKeys } from '../testing/test-keys.js';
import { AuditAckClaims } from './audit-messages.js';
import { openSeal } from './backend-seal.js';
import { CodeBatchManifest } from './code-messages.js';
import { CommandClaims } from './command-messages.js';

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
