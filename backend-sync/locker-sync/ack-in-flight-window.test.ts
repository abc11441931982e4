import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_CODE_SET_DIGEST, encodeMessage, newEnvelope, topicFor, type AuditRecordWire } from '../shared/contract.js';
import { doorClosedChain } from '../testing/audit-chain.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';

// A locker catching up a backlog keeps up to maxInFlight uploads of batchSize records
// waiting for an ack, all carrying the watermark it had when it sent them
// (sync/agent/audit-uploader.ts). An in-flight normal upload is done only when an ack's
// contiguousSeq reaches its last record; an upload the backend stores in order must be
// acked through it, or the window fills with uploads that never finish and the locker stalls
// for ackTimeoutMs and sends them all again. The largest window a locker may configure
// (sync/agent/sync-config.ts: maxInFlight ≤ 64, batchSize ≤ 256) spans 16384 records above
// that watermark, with no break and no hole anywhere: the ack must vouch across all of it.
// Real backend on a real SQLite file and on PostgreSQL, real hashes, real signed acks.

const LOCKER = 'lk-a';
const E = 'e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2';
const MAX_IN_FLIGHT = 64;
const MAX_BATCH = 256;
const WINDOW = MAX_IN_FLIGHT * MAX_BATCH;
const engines = await testEngines('ack in flight window');

const chain = (n: number): AuditRecordWire[] => doorClosedChain(n);

interface AckClaims {
  contiguousSeq: number;
  alsoSeqs: number[];
}

describe.each(engines)('acks for a full in-flight window sent from one watermark (%s)', (engine) => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  const recs = chain(WINDOW);
  /** Batch k (1-based) of the window: seqs (k-1)·256+1 .. k·256. */
  const batch = (k: number): AuditRecordWire[] => recs.slice((k - 1) * MAX_BATCH, k * MAX_BATCH);

  const upload = async (records: AuditRecordWire[], ackedSeq: number): Promise<AckClaims> => {
    pub.raw.length = 0;
    const highSeq = WINDOW;
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), encodeMessage('audit/upload', { ...newEnvelope('audit-upload', Date.now()), dbEpoch: E, lane: 'normal', ackedSeq, highSeq, records }));
    await f.services.bridge.idle();
    const ack = pub.raw.find((m) => m.topic === topicFor(LOCKER, 'audit/ack'));
    if (ack === undefined) throw new Error('no ack');
    const seal = (JSON.parse(ack.payload.toString()) as { seal: string }).seal;
    return JSON.parse(Buffer.from(seal.split('.')[2] ?? '', 'base64url').subarray(0, -64).toString()) as AckClaims;
  };
  /** Stores batches `from`..`to` as earlier uploads of the window did (directly: only the ack of the next one is under test). */
  const stored = async (from: number, to: number): Promise<void> => {
    await f.store.transaction(async () => {
      for (let k = from; k <= to; k++) for (const r of batch(k)) await f.store.audit.insert({ lockerId: LOCKER, epoch: E, ...r }, 0);
    });
    await f.store.audit.setContiguousSeq(LOCKER, E, to * MAX_BATCH);
  };

  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { M: 2 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
    const presence = { ...newEnvelope('presence', Date.now()), status: 'online' as const, bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: E, codeSet: { version: 0, digest: EMPTY_CODE_SET_DIGEST }, audit: { highSeq: WINDOW, ackedSeq: 0 } };
    await f.services.bridge.onMessage(topicFor(LOCKER, 'presence'), encodeMessage('presence', presence));
  });
  afterEach(() => f.close());

  it('acks every upload of the window through its own last record', async () => {
    // Every upload of the window carries the watermark 0; the first 32 fill 1..8192.
    await stored(1, 32);
    expect(await upload(batch(33), 0)).toMatchObject({ contiguousSeq: 33 * MAX_BATCH, alsoSeqs: [] });
    await stored(34, MAX_IN_FLIGHT - 1);
    expect(await upload(batch(MAX_IN_FLIGHT), 0)).toMatchObject({ contiguousSeq: WINDOW, alsoSeqs: [] });
    // A re-send of the window's first batch after a rewind still is acked as far as before.
    expect(await upload(batch(1), 0)).toMatchObject({ contiguousSeq: MAX_BATCH, alsoSeqs: [] });
    // 16,384 records stored one round trip each: seconds on PostgreSQL alone, past the default
    // 30 s on a CI host with two cores shared by the other suites.
  }, 120_000);
});
