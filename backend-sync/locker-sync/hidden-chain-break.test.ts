import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_CODE_SET_DIGEST, GENESIS_PREV_HASH, auditRecordHash, encodeMessage, newEnvelope, topicFor, type AuditRecordWire } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';

// An epoch's chain state remembers only its LOWEST break. The ack's "no break between the
// locker's acked watermark and the record that vouches" check read that one seq: a break at
// or below the watermark made it look as if there were none above it either. A restored copy
// of the locker's database (same epoch, docs/decisions/0023) that sends a priority record
// ahead of its normal lane was then acked PAST its own unsent record — the backend holds the
// original database's record at that seq, not the copy's — and the copy forgot a record the
// backend never stored (and never learnt it must take a new epoch: the conflict that tells it
// so only shows when that record is uploaded).
// Real backend on a real SQLite file and on PostgreSQL, real hashes, real signed acks.

const LOCKER = 'lk-a';
const E = 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';
const engines = await testEngines('hidden chain break');

/** Records `from`.. of a chain whose record `from - 1` has hash `prev`; `tag` tells copies apart. */
function records(prev: string, from: number, lanes: Array<'normal' | 'priority'>, tag: string, at = 1_000): AuditRecordWire[] {
  return lanes.map((lane, i) => {
    const seq = from + i;
    const dataJson = JSON.stringify({ compartmentId: 'M1', openMs: seq, commanded: false, tag });
    const hash = auditRecordHash(prev, seq, at + seq, 'door.closed', dataJson);
    const rec: AuditRecordWire = { seq, at: at + seq, type: 'door.closed', lane, dataJson, prevHash: prev, hash };
    prev = hash;
    return rec;
  });
}

interface AckClaims {
  contiguousSeq: number;
  alsoSeqs: number[];
  contiguousHash?: string;
  conflictAt?: number;
}

describe.each(engines)('a chain break at or below the acked watermark (%s)', (engine) => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  /** The original database's records 1-7, as the backend stored them (record 2 altered on the way). */
  let original: AuditRecordWire[];

  const upload = async (recs: AuditRecordWire[], ackedSeq: number): Promise<AckClaims> => {
    pub.raw.length = 0;
    const lane = recs[0]?.lane ?? 'normal';
    const highSeq = Math.max(...recs.map((r) => r.seq));
    await f.services.bridge.onMessage(topicFor(LOCKER, 'audit/upload'), encodeMessage('audit/upload', { ...newEnvelope('audit-upload', Date.now()), dbEpoch: E, lane, ackedSeq, highSeq, records: recs }));
    await f.services.bridge.idle();
    const ack = pub.raw.find((m) => m.topic === topicFor(LOCKER, 'audit/ack'));
    if (ack === undefined) throw new Error('no ack');
    // The claims as the locker reads them once the seal verifies (PASETO v4.public: message, then a 64-byte signature).
    const seal = (JSON.parse(ack.payload.toString()) as { seal: string }).seal;
    return JSON.parse(Buffer.from(seal.split('.')[2] ?? '', 'base64url').subarray(0, -64).toString()) as AckClaims;
  };
  const breakAlerts = async (): Promise<unknown[]> =>
    (await f.store.alerts.list(LOCKER))
      .filter((a) => a.kind === 'audit.chain-break')
      .map((a) => a.details)
      .sort((a, b) => Number(a['seq']) - Number(b['seq']));

  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { M: 2 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
    const presence = { ...newEnvelope('presence', Date.now()), status: 'online' as const, bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: E, codeSet: { version: 0, digest: EMPTY_CODE_SET_DIGEST }, audit: { highSeq: 0, ackedSeq: 0 } };
    await f.services.bridge.onMessage(topicFor(LOCKER, 'presence'), encodeMessage('presence', presence));
    original = records(GENESIS_PREV_HASH, 1, ['normal', 'normal', 'normal', 'normal', 'normal', 'normal', 'normal'], 'original');
    // Record 2 reaches the backend altered (a fault, or someone at the file): a break at 2,
    // alerted. The locker's watermark moves past it through alsoSeqs as the protocol has it.
    const altered = original.map((r) => (r.seq === 2 ? { ...r, dataJson: r.dataJson.replace('M1', 'M2') } : r));
    await upload(altered, 0);
    expect(await f.store.audit.chainBrokenAt(LOCKER, E)).toBe(2);
  });
  afterEach(() => f.close());

  it('never acks a restored copy past its own record the backend holds differently, and alerts the second break once', async () => {
    // A backup taken when the original's watermark was 6 is restored. It writes its own 7
    // (normal lane) and 8 (priority lane: sent first). The backend holds the original's 7.
    const copy = records(original[5]!.hash, 7, ['normal', 'priority'], 'restored-copy');
    const [copy7, copy8] = [copy[0]!, copy[1]!];
    const ack = await upload([copy8], 6);
    // 8 is stored and its link to the stored 7 is broken: a second break, alerted.
    expect(await f.store.audit.get(LOCKER, E, 8)).toMatchObject({ hash: copy8.hash });
    // The copy's 7 is not the backend's 7, so 8 vouches for nothing below it: 8 is acked by
    // itself, the contiguous ack stays at the copy's watermark.
    expect(ack).toMatchObject({ contiguousSeq: 6, alsoSeqs: [8] });
    expect(await breakAlerts()).toEqual([
      { epoch: E, seq: 2, reason: 'hash-chain' },
      { epoch: E, seq: 8, reason: 'hash-chain' },
    ]);
    // The copy therefore still uploads its 7: the conflict shows and it takes a new epoch.
    const next = await upload([copy7], 6);
    expect(next).toMatchObject({ contiguousSeq: 6, conflictAt: 7 });
    // Resending changes nothing, and no break is alerted twice.
    await upload([copy8], 6);
    await upload([copy7], 6);
    expect(await breakAlerts()).toEqual([
      { epoch: E, seq: 2, reason: 'hash-chain' },
      { epoch: E, seq: 7, reason: 'conflicting-record' },
      { epoch: E, seq: 8, reason: 'hash-chain' },
    ]);
  });

  it('does not let a record with a bad hash above the watermark be vouched for by a later one', async () => {
    // The original continues: its 8 reaches the backend altered (a second break, at 8), its 9
    // intact. A priority upload of 9 from a locker at watermark 7 must not cover 8.
    const more = records(original[6]!.hash, 8, ['normal', 'priority'], 'original');
    const [r8, r9] = [more[0]!, more[1]!];
    await upload([{ ...r8, dataJson: r8.dataJson.replace('M1', 'M2') }], 7);
    const ack = await upload([r9], 7);
    expect(ack).toMatchObject({ contiguousSeq: 7, alsoSeqs: [9] });
    expect((await breakAlerts()).map((d) => (d as { seq: number }).seq)).toEqual([2, 8]);
  });

  it('still acks the whole upload when the chain above the watermark is intact', async () => {
    const more = records(original[6]!.hash, 8, ['normal', 'normal', 'normal'], 'original');
    const ack = await upload(more, 7);
    expect(ack).toMatchObject({ contiguousSeq: 10, alsoSeqs: [], contiguousHash: more[2]!.hash });
    // A priority record vouches for the stored records below it, down to the watermark.
    const [r11] = records(more[2]!.hash, 11, ['priority'], 'original');
    expect(await upload([r11!], 7)).toMatchObject({ contiguousSeq: 11, alsoSeqs: [] });
  });
});
