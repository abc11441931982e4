import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_CODE_SET_DIGEST, encodeMessage, newEnvelope, topicFor, type AuditRecordWire } from '../shared/contract.js';
import { doorClosedChain } from '../testing/audit-chain.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';

// An epoch's stored contiguous prefix may lie above records the backend never stored: the
// prefix starts at the uploading locker's acked watermark, and records below that watermark
// were acknowledged before (by a backend since restored from an older backup, say) and may
// be long pruned. Such a hole raises no chain break (a missing neighbour is no broken link),
// so with no break flagged at all the ack's vouching check returned at once — and a locker
// uploading from a LOWER watermark (a restored copy of its database, same epoch) was acked
// across the hole: it forgot records the backend never stored. A locker of an older release
// checks no contiguousHash; here even the current release would accept, as the hash at the
// acked seq is the copy's own record.
// Real backend on a real SQLite file and on PostgreSQL, real hashes, real signed acks.

const LOCKER = 'lk-a';
const E = 'e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1';
const engines = await testEngines('ack across a gap');

/** Records 1..n of one chain; seqs in `priority` are priority-lane records. */
const chain = (n: number, priority: readonly number[] = []): AuditRecordWire[] => doorClosedChain(n, (seq) => (priority.includes(seq) ? 'priority' : 'normal'));

interface AckClaims {
  contiguousSeq: number;
  alsoSeqs: number[];
  contiguousHash?: string;
}

describe.each(engines)('an ack above a record the backend never stored (%s)', (engine) => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  const recs = chain(12, [6, 12]);
  const at = (...seqs: number[]): AuditRecordWire[] => seqs.map((s) => recs[s - 1]!);

  const upload = async (records: AuditRecordWire[], ackedSeq: number): Promise<AckClaims> => {
    pub.raw.length = 0;
    const lane = records[0]?.lane ?? 'normal';
    const highSeq = Math.max(...records.map((r) => r.seq));
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), encodeMessage('audit/upload', { ...newEnvelope('audit-upload', Date.now()), dbEpoch: E, lane, ackedSeq, highSeq, records }));
    await f.services.bridge.idle();
    const ack = pub.raw.find((m) => m.topic === topicFor(LOCKER, 'audit/ack'));
    if (ack === undefined) throw new Error('no ack');
    // The claims as the locker reads them once the seal verifies (PASETO v4.public: message, then a 64-byte signature).
    const seal = (JSON.parse(ack.payload.toString()) as { seal: string }).seal;
    return JSON.parse(Buffer.from(seal.split('.')[2] ?? '', 'base64url').subarray(0, -64).toString()) as AckClaims;
  };
  /** Seqs in (ackedSeq, ack.contiguousSeq] the backend does not hold: what a locker applying the ack would lose. */
  const promisedButMissing = async (ack: AckClaims, ackedSeq: number): Promise<number[]> => {
    const missing: number[] = [];
    for (let seq = ackedSeq + 1; seq <= ack.contiguousSeq; seq++) if ((await f.store.audit.get(LOCKER, E, seq)) === undefined) missing.push(seq);
    return missing;
  };

  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { M: 2 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
    const presence = { ...newEnvelope('presence', Date.now()), status: 'online' as const, bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: E, codeSet: { version: 0, digest: EMPTY_CODE_SET_DIGEST }, audit: { highSeq: 0, ackedSeq: 0 } };
    await f.services.bridge.onMessage(topicFor(LOCKER, 'presence'), encodeMessage('presence', presence));
    expect(await upload(at(1, 2, 3), 0)).toMatchObject({ contiguousSeq: 3 });
    // The locker's 4-8 were acknowledged by the backend before it was restored from an older
    // backup; the locker pruned them and uploads from its watermark of 8. Accepted as the
    // protocol has it: the prefix starts at the locker's watermark.
    expect(await upload(at(9, 10), 8)).toMatchObject({ contiguousSeq: 10 });
    expect(await f.store.audit.contiguousSeq(LOCKER, E)).toBe(10);
    // A hole at 4-8, and no break flagged anywhere in the epoch.
    expect(await f.store.audit.chainBrokenAt(LOCKER, E)).toBeUndefined();
  });
  afterEach(() => f.close());

  it('does not let a priority record ahead of a restored copy vouch across the hole', async () => {
    // A copy of the locker's database, restored from a backup taken at watermark 3, still
    // holds 4-8 (the only copies left). Its priority lane sends 6 first.
    const ack = await upload(at(6), 3);
    expect(await promisedButMissing(ack, 3)).toEqual([]);
    expect(ack).toMatchObject({ contiguousSeq: 3, alsoSeqs: [6] });
    // Its normal lane then fills the hole, and the ack covers it (up to the upload's own
    // highest record, as always).
    const next = await upload(at(4, 5, 6, 7, 8), 3);
    expect(next).toMatchObject({ contiguousSeq: 8, alsoSeqs: [], contiguousHash: recs[7]!.hash });
    expect(await upload(at(12), 8)).toMatchObject({ contiguousSeq: 10, alsoSeqs: [12] });
  });

  it('does not ack the stored prefix across the hole for a record above it', async () => {
    // The copy's priority record 12: the backend's prefix ends at 10 (11 is not held).
    const ack = await upload(at(12), 3);
    expect(await promisedButMissing(ack, 3)).toEqual([]);
    expect(ack).toMatchObject({ contiguousSeq: 3, alsoSeqs: [12] });
  });

  it('still acks from a watermark at or above the hole', async () => {
    expect(await upload(at(11), 8)).toMatchObject({ contiguousSeq: 11, alsoSeqs: [] });
    expect(await upload(at(12), 10)).toMatchObject({ contiguousSeq: 12, alsoSeqs: [] });
  });
});
