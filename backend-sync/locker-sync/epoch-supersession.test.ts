import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_CODE_SET_DIGEST, GENESIS_PREV_HASH, auditRecordHash, encodeMessage, newEnvelope, topicFor, type AuditRecordWire } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';

// A locker's database is replaced (docs/operations.md): its new epoch arrives in the
// retained presence. An upload of the old database still in flight (a retry, a slow
// instance) may reach the backend after that. It is stored — nothing the locker sent is
// lost — but the old epoch never becomes the locker's current one again: commands must
// keep naming the database that is actually running.

const OLD = 'a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0';
const NEW = 'b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1';
const LOCKER = 'lk-a';

function chain(n: number, at: number): AuditRecordWire[] {
  let prev = GENESIS_PREV_HASH;
  const out: AuditRecordWire[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const dataJson = JSON.stringify({ compartmentId: 'M1', openMs: seq, commanded: false });
    const hash = auditRecordHash(prev, seq, at + seq, 'door.closed', dataJson);
    out.push({ seq, at: at + seq, type: 'door.closed', lane: 'normal', dataJson, prevHash: prev, hash });
    prev = hash;
  }
  return out;
}

const presence = (epoch: string): Buffer =>
  encodeMessage('presence', { ...newEnvelope('presence', Date.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: epoch, codeSet: { version: 0, digest: EMPTY_CODE_SET_DIGEST }, audit: { highSeq: 0, ackedSeq: 0 } });
const upload = (epoch: string, records: AuditRecordWire[], ackedSeq: number): Buffer =>
  encodeMessage('audit/upload', { ...newEnvelope('audit-upload', Date.now()), dbEpoch: epoch, lane: 'normal', ackedSeq, highSeq: records.at(-1)?.seq ?? 0, records });

describe('database epoch supersession', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { M: 2 }));
    f.services.bridge.attach(new RecordingPublisher());
  });
  afterEach(() => f.close());

  it('stores a late upload of the replaced database without making its epoch current again', async () => {
    const old = chain(3, 1_000);
    await f.services.bridge.onMessage(topicFor(LOCKER, 'presence'), presence(OLD));
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), upload(OLD, old.slice(0, 2), 0));
    // The database is replaced; the fresh one announces itself and uploads its first record.
    await f.services.bridge.onMessage(topicFor(LOCKER, 'presence'), presence(NEW));
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), upload(NEW, chain(1, 5_000), 0));
    // The old database's last upload, retried, arrives only now.
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), upload(OLD, old.slice(2), 2));
    await f.services.bridge.idle();

    expect(await f.store.audit.count(LOCKER, OLD)).toBe(3);
    expect(await f.store.audit.contiguousSeq(LOCKER, OLD)).toBe(3);
    expect(await f.store.audit.currentEpoch(LOCKER)).toBe(NEW);
    const cmd = await f.services.commands.send(LOCKER, { kind: 'remote-open', compartmentId: 'M1', reason: 'after the reset' }, 'ops', 60_000);
    expect(cmd.dbEpoch).toBe(NEW);
    // The fresh database keeps uploading and is acknowledged as before.
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), upload(NEW, chain(2, 5_000).slice(1), 1));
    await f.services.bridge.idle();
    expect(await f.store.audit.contiguousSeq(LOCKER, NEW)).toBe(2);
    expect(await f.store.audit.chainBrokenAt(LOCKER)).toBeUndefined();
  });

  it('learns a new epoch from an upload that arrives before its presence', async () => {
    await f.services.bridge.onMessage(topicFor(LOCKER, 'presence'), presence(OLD));
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), upload(NEW, chain(1, 5_000), 0));
    await f.services.bridge.idle();
    expect(await f.store.audit.currentEpoch(LOCKER)).toBe(NEW);
  });
});
