import { describe, expect, it } from 'vitest';
import { makeTestKeys } from './test-keys.js';
import { decodeMessage, encodeMessage } from './decode-message.js';
import { newEnvelope } from './envelope.js';
import { parseTopic, topicFor } from './topics.js';

const EPOCH = '0123456789abcdef0123456789abcdef';
const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('decodeMessage', () => {
  const keys = makeTestKeys();
  const command = keys.signer.command('locker-a', EPOCH, 'txn-00000001', { kind: 'resync' }, 60_000);

  it('accepts a valid message and strips unknown fields of a known version', () => {
    const decoded = decodeMessage('cmd', enc({ ...command, futureField: 42 }));
    expect(decoded.ok).toBe(true);
    expect(decoded.ok && 'futureField' in decoded.message).toBe(false);
  });

  it('rejects an oversized payload before parsing it', () => {
    const huge = Buffer.alloc(9 * 1024, 0x7b); // "{{{{": would not parse either
    expect(decodeMessage('cmd', huge)).toMatchObject({ ok: false, reason: 'oversized' });
  });

  it('names each kind of bad input', () => {
    expect(decodeMessage('cmd', Buffer.from([0xff, 0xfe]))).toMatchObject({ reason: 'not-utf8' });
    expect(decodeMessage('cmd', Buffer.from('{nope'))).toMatchObject({ reason: 'not-json' });
    expect(decodeMessage('cmd', enc([1, 2]))).toMatchObject({ reason: 'no-header' });
    expect(decodeMessage('cmd', enc({ ...command, v: 2 }))).toMatchObject({ reason: 'unsupported-version', id: command.id });
    expect(decodeMessage('cmd', enc({ ...command, type: 'audit-ack' }))).toMatchObject({ reason: 'wrong-type' });
    expect(decodeMessage('cmd', enc({ ...command, transactionId: 'no spaces allowed' }))).toMatchObject({ reason: 'schema' });
  });

  it('refuses to encode a message that does not match its topic schema', () => {
    expect(() => encodeMessage('codes/snapshot-request', { ...newEnvelope('snapshot-request', 1), reason: 'gap', state: { version: -1, digest: 'x' } })).toThrow();
  });
});

describe('topics', () => {
  it('round-trips a locker topic and refuses anything else', () => {
    expect(parseTopic(topicFor('locker-a', 'cmd/reply'))).toEqual({ lockerId: 'locker-a', suffix: 'cmd/reply' });
    expect(parseTopic('lockers/locker-a/cmd/other')).toBeUndefined();
    expect(parseTopic('lockers/Locker_A/cmd')).toBeUndefined();
    expect(() => topicFor('a/+/#', 'cmd')).toThrow(RangeError);
  });
});
