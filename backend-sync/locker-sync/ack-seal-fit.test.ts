import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuditAckClaims,
  EMPTY_CODE_SET_DIGEST,
  Keyring,
  MAX_ALSO_SEQS,
  MAX_TOKEN_LENGTH,
  decodeMessage,
  encodeMessage,
  newEnvelope,
  openSeal,
  topicFor,
  type AuditAckClaims as Claims,
  type AuditRecordWire,
} from '../shared/contract.js';
import { doorClosedChain } from '../testing/audit-chain.js';
import { T0, lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';

// Every seq an ack lists out of order comes with its 64-hex hash, and the seal holding them
// is at most 2048 characters (lockers in the field refuse longer): about fifteen fit. An
// upload with more records above what the ack covers — a priority upload of up to 100
// records ahead of the backlog, as lockers in the field send, or a backlog batch processed
// before its predecessor (two instances on a shared subscription) — used to make signing
// throw, and no ack went out: the locker waited for its ack timeout and sent the upload
// again, and the priority records, forever while the backlog stayed behind. The backend now
// answers such an upload with several acks, each of which fits and verifies, covering
// every held record between them.
// Real backend on a real SQLite file and on PostgreSQL, real hashes, real signed acks
// opened with the backend's public key as a locker opens them.

const LOCKER = 'lk-seal-fit';
const E = 'e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3';
const KID = 'k-20261101-test';
const engines = await testEngines('ack seal fit');

/** Records 1..n of one chain; seqs above `normalUpTo` are priority-lane records. */
const chain = (n: number, normalUpTo = n): AuditRecordWire[] => doorClosedChain(n, (seq) => (seq > normalUpTo ? 'priority' : 'normal'));

describe.each(engines)('acks too long for one seal (%s)', (engine) => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  let keyring: Keyring;

  /** The acks the upload got, each opened as the locker opens it (the test fails on one that does not open). */
  const upload = async (records: AuditRecordWire[], ackedSeq: number, highSeq: number): Promise<Claims[]> => {
    pub.raw.length = 0;
    const lane = records[0]?.lane ?? 'normal';
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), encodeMessage('audit/upload', { ...newEnvelope('audit-upload', T0), dbEpoch: E, lane, ackedSeq, highSeq, records }));
    await f.services.bridge.idle();
    return pub.raw
      .filter((m) => m.topic === topicFor(LOCKER, 'audit/ack'))
      .map((m) => {
        const decoded = decodeMessage('audit/ack', m.payload);
        if (!decoded.ok) throw new Error(`ack refused by the locker's decoder: ${decoded.reason}`);
        expect(decoded.message.seal.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
        const opened = openSeal(f.ed, keyring, decoded.message.seal, LOCKER, AuditAckClaims, T0);
        if (!opened.ok) throw new Error(`ack seal refused: ${opened.reason}`);
        return opened.claims;
      });
  };
  const hashesOf = (records: AuditRecordWire[]): Map<number, string> => new Map(records.map((r) => [r.seq, r.hash]));

  beforeEach(async () => {
    f = await makeBackend({ engine, kid: KID });
    await f.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { M: 2 }));
    keyring = Keyring.fromRows(f.ed, [{ kid: KID, publicKey: readFileSync(join(f.dir, 'keys', `${KID}.pub`), 'utf8').trim(), revoked: false }]);
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
    const presence = { ...newEnvelope('presence', T0), status: 'online' as const, bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: E, codeSet: { version: 0, digest: EMPTY_CODE_SET_DIGEST }, audit: { highSeq: 0, ackedSeq: 0 } };
    await f.services.bridge.onMessage(topicFor(LOCKER, 'presence'), encodeMessage('presence', presence));
  });
  afterEach(() => f.close());

  it("acknowledges every record of an older locker's 100-record priority upload sent ahead of the backlog", async () => {
    // Seqs 1..20 are the backlog, not yet uploaded; 21..120 are priority records sent ahead.
    const recs = chain(20 + MAX_ALSO_SEQS, 20);
    const priority = recs.slice(20);
    const acks = await upload(priority, 0, 120);
    expect(acks.length).toBeGreaterThan(1);
    // Between them, every priority record, each with the hash the locker sent, none twice.
    expect(acks.flatMap((a) => a.alsoSeqs)).toEqual(priority.map((r) => r.seq));
    const sent = hashesOf(priority);
    for (const a of acks) {
      expect(a).toMatchObject({ contiguousSeq: 0, dbEpoch: E });
      expect(a.alsoHashes).toEqual(a.alsoSeqs.map((s) => sent.get(s)));
    }
    // The backlog follows and is acked through its own last record, as before.
    const backlog = await upload(recs.slice(0, 20), 0, 120);
    expect(backlog).toEqual([expect.objectContaining({ contiguousSeq: 20, alsoSeqs: [] })]);
  });

  it('acknowledges a backlog batch the backend processes before its predecessor', async () => {
    const recs = chain(400);
    const second = recs.slice(200);
    // 201..400 arrive first (another instance took 1..200 and is slower): nothing vouches
    // below them, so every one of them is listed out of order.
    const early = await upload(second, 0, 400);
    expect(early.length).toBeGreaterThan(1);
    expect(early.flatMap((a) => a.alsoSeqs)).toEqual(second.map((r) => r.seq));
    expect(early.every((a) => a.contiguousSeq === 0)).toBe(true);
    const sent = hashesOf(second);
    for (const a of early) expect(a.alsoHashes).toEqual(a.alsoSeqs.map((s) => sent.get(s)));
    // Then 1..200: acked through its own last record.
    const late = await upload(recs.slice(0, 200), 0, 400);
    expect(late).toEqual([expect.objectContaining({ contiguousSeq: 200, alsoSeqs: [] })]);
  });
});
