import { describe, expect, it } from 'vitest';
import { Keyring } from './tokens/keyring.js';
import { makeTestKeys } from './test-keys.js';
import { AuditAckClaims, MAX_ALSO_SEQS, MAX_PRIORITY_UPLOAD_RECORDS, MAX_UPLOAD_RECORDS } from './audit-messages.js';
import { SEAL_MARGIN, openSeal, sealLength, signSeal } from './backend-seal.js';
import { MAX_TOKEN_LENGTH } from './tokens/paseto-v4-public.js';
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
  // The longest values the schemas allow: locker id, epoch, kid, seqs, iat.
  const LONG_LOCKER = `l${'x'.repeat(62)}`;
  const LONG_EPOCH = 'e'.repeat(64);
  const LONG_KID = 'k'.repeat(64);
  const MAX_SEQ = Number.MAX_SAFE_INTEGER;
  const hash = (i: number): string => i.toString(16).padStart(64, '0');
  const MAX_IAT = 8_640_000_000_000_000;
  const longKeys = makeTestKeys(() => MAX_IAT, LONG_KID);
  const longSigner = longKeys.signer;
  const keys = makeTestKeys(() => now);

  it('measures a seal exactly as long as the signed one', () => {
    const key = keys.ed.importPrivateKey(keys.seed);
    for (const n of [0, 1, 2, 3, 7, 12]) {
      const claims = { typ: 'audit-ack', lockerId: 'locker-a', dbEpoch: EPOCH, contiguousSeq: 7, alsoSeqs: Array.from({ length: n }, (_, i) => 100 + i), alsoHashes: Array.from({ length: n }, (_, i) => hash(i)), iat: now };
      expect(sealLength('backend-1', claims)).toBe(signSeal(keys.ed, key, 'backend-1', 'locker-a', claims).length);
    }
  });

  it('fits a full priority upload (MAX_PRIORITY_UPLOAD_RECORDS seqs and hashes) in one ack at the schemas\' longest values', () => {
    const seqs = Array.from({ length: MAX_PRIORITY_UPLOAD_RECORDS }, (_, i) => MAX_SEQ - i);
    const extra = { conflictAt: MAX_SEQ, contiguousHash: hash(1), alsoHashes: seqs.map(hash) };
    const acks = longSigner.auditAcks(LONG_LOCKER, LONG_EPOCH, MAX_SEQ, seqs, extra);
    expect(acks).toHaveLength(1);
    expect(acks[0]!.seal.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH - SEAL_MARGIN);
    // And the plain single ack signs too (what the test backend and older code paths use).
    expect(longSigner.auditAck(LONG_LOCKER, LONG_EPOCH, MAX_SEQ, seqs, undefined, extra).seal.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
  });

  it('cannot sign one ack of 100 seqs with their hashes: the overflow auditAcks exists for', () => {
    const seqs = Array.from({ length: MAX_ALSO_SEQS }, (_, i) => 1_000 + i);
    expect(() => keys.signer.auditAck('locker-a', EPOCH, 0, seqs, undefined, { alsoHashes: seqs.map(hash) })).toThrow(/maximum length/);
  });

  it.each([
    ['an older locker\'s priority upload', MAX_ALSO_SEQS],
    ['a whole normal upload processed ahead of its predecessor', MAX_UPLOAD_RECORDS],
  ])('splits %s over acks that each fit, open and pair, lowest seqs first', (_name, n) => {
    const seqs = Array.from({ length: n }, (_, i) => MAX_SEQ - n + i);
    const acks = longSigner.auditAcks(LONG_LOCKER, LONG_EPOCH, 3, seqs, { conflictAt: 2, contiguousHash: hash(3), alsoHashes: seqs.map(hash) });
    const opened = acks.map((a) => {
      expect(a.seal.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH - SEAL_MARGIN);
      const o = openSeal(longKeys.ed, longKeys.keyring, a.seal, LONG_LOCKER, AuditAckClaims, MAX_IAT);
      if (!o.ok) throw new Error(o.reason);
      return o.claims;
    });
    expect(acks.length).toBeGreaterThan(1);
    expect(opened.flatMap((c) => c.alsoSeqs)).toEqual(seqs);
    for (const c of opened) {
      expect(c.alsoHashes).toEqual(c.alsoSeqs.map(hash));
      expect(c).toMatchObject({ contiguousSeq: 3, contiguousHash: hash(3) });
    }
    // Filled: every ack but the last holds at least what one priority upload may.
    for (const c of opened.slice(0, -1)) expect(c.alsoSeqs.length).toBeGreaterThanOrEqual(MAX_PRIORITY_UPLOAD_RECORDS);
    // The locker takes a new epoch on conflictAt: it comes last, after every seq it may apply.
    expect(opened.map((c) => c.conflictAt)).toEqual([...opened.slice(1).map(() => undefined), 2]);
  });

  it('fits the longest command the schemas allow (its only free text, reason, all JSON escapes)', () => {
    // Commands carry no list; this is the bound that keeps them signable.
    const reason = '\u0001'.repeat(120);
    const signer = makeTestKeys(() => MAX_IAT - MAX_COMMAND_LIFETIME_MS, LONG_KID).signer;
    const cmd = signer.command(LONG_LOCKER, LONG_EPOCH, 't'.repeat(64), { kind: 'set-compartment-service', compartmentId: 'c'.repeat(16), inService: false, reason }, MAX_COMMAND_LIFETIME_MS);
    expect(cmd.seal.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH - SEAL_MARGIN);
  });

  it('sends one ack, without alsoSeqs, when there is nothing out of order', () => {
    const acks = keys.signer.auditAcks('locker-a', EPOCH, 9, [], {});
    expect(acks).toHaveLength(1);
    expect(openSeal(keys.ed, keys.keyring, acks[0]!.seal, 'locker-a', AuditAckClaims, now)).toMatchObject({ ok: true, claims: { contiguousSeq: 9, alsoSeqs: [] } });
  });
});
