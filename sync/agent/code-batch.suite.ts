import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CodeBatch, CodeEntry } from '@locker/contract/codes/code-batch.js';
import { codeSetDigestOf } from '@locker/contract/codes/code-set-digest.js';
import { makeBatch, makeEntries } from '@locker/device/store/store-test-fixtures.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { BackendSigner } from '@locker/contract/backend-signer.js';
import { fillState, freeSpace } from '@locker/device/e2e/full-disk.js';
import { makeWorld, type BrokerFactory, type SuiteWorld } from '@locker/sync-testing/suite-fixture.js';
import { fastAgentConfig, TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';

// Code batches through a real broker: duplicated, reordered and replayed batches are
// applied at most once and never out of order; a gap ends in a snapshot whose digest
// equals the backend's.

export function defineCodeBatchSuite(brokerName: string, startBroker: BrokerFactory): void {
  describe(`code batches over MQTT (${brokerName})`, () => {
    let w: SuiteWorld;
    beforeEach(async () => {
      w = await makeWorld(startBroker);
    });
    afterEach(async () => {
      await w.dispose();
    });

    const delta = (from: number, entries: CodeEntry[], extra: Partial<CodeBatch> = {}): CodeBatch =>
      makeBatch({ lockerId: TEST_LOCKER_ID, fromVersion: from, toVersion: from + 1, upserts: entries, ...extra });
    const acksFor = (toVersion: number) => w.backend.codeAcks.filter((a) => a.batch.toVersion === toVersion);

    it('applies a signed batch and acks the version and digest it now holds', async () => {
      const locker = w.locker();
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
      const entries = makeEntries(1, 50);
      const sent = w.backend.publishBatch(delta(0, entries));
      await w.backend.waitFor(() => w.backend.codeAcks.length === 1, 5000, 'ack');
      const ack = w.backend.codeAcks[0]!;
      expect(ack).toMatchObject({ inReplyTo: sent.id, outcome: 'applied', state: { version: 1, digest: codeSetDigestOf(entries) } });
      expect(locker.store.codeSetState()).toEqual(ack.state);
      const birth = w.backend.presence.get(TEST_LOCKER_ID);
      expect(birth).toMatchObject({ status: 'online', firmwareVersion: 'test-1.0.0', codeSet: { version: 0 } });
    });

    it('applies duplicated, reordered and replayed batches at most once and in order', async () => {
      const locker = w.locker();
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
      const b1 = delta(0, makeEntries(1, 10));
      const b2 = delta(1, makeEntries(11, 10));
      const b3 = delta(2, makeEntries(21, 10), { revocations: [{ tokenId: b1.upserts[0]!.tokenId, reason: 'cancelled' }] });
      // Reordered: 3 and 2 arrive before 1; then 1 twice, 2, 3, and 1 replayed at the end.
      for (const b of [b3, b2, b1, b1, b2, b3, b1]) w.backend.publishBatch(b);
      await w.backend.waitFor(() => w.backend.codeAcks.length === 7, 10_000, '7 acks');
      const outcomes = w.backend.codeAcks.map((a) => `${String(a.batch.toVersion)}:${a.outcome}`);
      expect(outcomes).toEqual(['3:gap', '2:gap', '1:applied', '1:stale', '2:applied', '3:applied', '1:stale']);
      // Versions the locker held, as acked, never go down.
      const versions = w.backend.codeAcks.map((a) => a.state.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      const expected = codeSetDigestOf([...b1.upserts.slice(1), ...b2.upserts, ...b3.upserts]);
      expect(locker.store.codeSetState()).toEqual({ version: 3, digest: expected });
      expect(acksFor(1).filter((a) => a.outcome === 'applied')).toHaveLength(1);
      expect(w.backend.snapshotRequests.length).toBeGreaterThanOrEqual(1);
    });

    it('rotates backend keys through a batch: the new key is trusted, the revoked one refused', async () => {
      const locker = w.locker();
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
      const next = w.keys.ed.generateKeyPair();
      const newSigner = new BackendSigner({ ed: w.keys.ed, kid: 'backend-2', seed: next.seed, now: () => Date.now() });
      const before = Date.now();
      w.backend.publishBatch(delta(0, makeEntries(1, 3), { keyring: [{ op: 'trust', kid: 'backend-2', publicKey: keyToText(next.publicKey) }, { op: 'revoke', kid: 'backend-1' }] }));
      await w.backend.waitFor(() => acksFor(1).length === 1, 5000, 'v1');
      // The verified manifest's issue time raised the trusted-time floor.
      expect(locker.store.clockFloor()).toBeGreaterThanOrEqual(before);
      w.backend.publishBatch(delta(1, makeEntries(10, 3))); // still signed by the revoked backend-1
      w.backend.publish(TEST_LOCKER_ID, 'codes/batch', newSigner.codeBatch(delta(1, makeEntries(20, 3))));
      await w.backend.waitFor(() => acksFor(2).length === 1, 5000, 'v2 by the new key');
      // (The test backend keeps signing audit acks with backend-1: those are refused too.)
      const batchRejections = w.logs.find('message.rejected').filter((l) => String(l['topic']).endsWith('/codes/batch'));
      expect(batchRejections.map((l) => l['reason'])).toEqual(['key-revoked']);
      expect(acksFor(2)[0]?.outcome).toBe('applied');
      expect(locker.store.codeSetState().version).toBe(2);
    });

    it('recovers from a gap with a snapshot and then holds exactly the backend set', async () => {
      const locker = w.locker();
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
      const backendSet = new Map<string, CodeEntry>();
      for (const e of makeEntries(1, 20)) backendSet.set(e.tokenId, e);
      w.backend.publishBatch(delta(0, [...backendSet.values()]));
      await w.backend.waitFor(() => acksFor(1).length === 1, 5000, 'v1 ack');
      // The backend moves on to v4 while the locker misses v2 and v3.
      for (const e of makeEntries(100, 30)) backendSet.set(e.tokenId, e);
      for (const e of makeEntries(1, 5)) backendSet.delete(e.tokenId);
      w.backend.onSnapshotRequest = (lockerId, req) => {
        w.backend.publishBatch(makeBatch({ lockerId, kind: 'snapshot', fromVersion: req.state.version, toVersion: 4, upserts: [...backendSet.values()] }));
      };
      w.backend.publishBatch(delta(3, makeEntries(200, 3)));
      await w.backend.waitFor(() => acksFor(4).some((a) => a.outcome === 'applied'), 5000, 'snapshot applied');
      expect(locker.store.codeSetState()).toEqual({ version: 4, digest: codeSetDigestOf(backendSet.values()) });
    });

    it('stays online when the full disk refuses a batch, and asks for it again once the disk takes writes', async () => {
      // A long hold: only the recorded ack asks again here (the tick's retry has its own test).
      const locker = w.locker({ config: { audit: { ...fastAgentConfig.audit, ackTimeoutMs: 60_000 } } });
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
      const entries = makeEntries(1, 50);
      w.backend.onSnapshotRequest = (lockerId, req) => {
        w.backend.publishBatch(makeBatch({ lockerId, kind: 'snapshot', fromVersion: req.state.version, toVersion: 1, upserts: entries }));
      };
      fillState(locker);
      const sent = w.backend.publishBatch(delta(0, entries));
      await w.backend.waitFor(() => w.logs.find('code-batch.unrecorded').length === 1, 5000, 'the refused batch');
      expect(w.logs.find('code-batch.unrecorded')[0]).toMatchObject({ messageId: sent.id, toVersion: 1, errorCode: 'DB_WRITE_FAILED', storageCode: 'SQLITE_FULL', version: 0 });
      await new Promise((r) => setTimeout(r, 500));
      expect(locker.agent.status()).toMatchObject({ restarts: 0, connected: true });
      expect(w.logs.find('sync-agent.failed')).toEqual([]);
      expect(w.backend.codeAcks).toEqual([]);
      expect(locker.store.codeSetState().version).toBe(0);
      expect(w.backend.snapshotRequests).toEqual([]);

      // A batch the store rejects (duplicate ids) is still answered; only its audit record is lost.
      const dup = makeEntries(100, 2);
      w.backend.publishBatch(delta(0, [...dup, dup[0]!]));
      await w.backend.waitFor(() => w.backend.codeAcks.length === 1, 5000, 'the rejection ack');
      expect(w.backend.codeAcks[0]).toMatchObject({ outcome: 'rejected', batch: { toVersion: 1 } });
      expect(w.logs.find('code-batch.rejected')).toEqual([expect.objectContaining({ audited: false, storageCode: 'SQLITE_FULL' })]);
      expect(locker.agent.status().restarts).toBe(0);

      // Space back; the runtime's first record after it (device.storage-recovered) is uploaded
      // and its ack recorded: the agent asks for what it missed.
      freeSpace(locker);
      locker.store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: 1, commanded: true });
      await w.backend.waitFor(() => acksFor(1).some((a) => a.outcome === 'applied'), 5000, 'the snapshot applied');
      expect(w.backend.snapshotRequests).toHaveLength(1);
      expect(locker.store.codeSetState()).toEqual({ version: 1, digest: codeSetDigestOf(entries) });
      expect(locker.agent.status().restarts).toBe(0);
    });

    it('asks again for a batch the disk refused even when no audit record follows the space coming back', async () => {
      // An idle locker at night, or one whose storage reserve freed the room without an
      // outage: no device.storage-recovered, so no audit ack ever says the disk takes writes.
      const locker = w.locker();
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
      const entries = makeEntries(1, 20);
      w.backend.onSnapshotRequest = (lockerId, req) => {
        w.backend.publishBatch(makeBatch({ lockerId, kind: 'snapshot', fromVersion: req.state.version, toVersion: 1, upserts: entries }));
      };
      // Full for the batch, with no unacknowledged record whose ack could bring the news later.
      const db = locker.store.database;
      db.pragma('incremental_vacuum');
      db.pragma(`max_page_count = ${String(db.pragma('page_count', { simple: true }))}`);
      for (let i = 0; ; i++) {
        try {
          locker.store.saveState(`f${String(i)}`, JSON.stringify('x'.repeat(64)));
        } catch {
          break;
        }
      }
      w.backend.publishBatch(delta(0, entries));
      await w.backend.waitFor(() => w.logs.find('code-batch.unrecorded').length === 1, 5000, 'the refused batch');
      expect(locker.store.auditHighWatermark()).toBe(0);
      freeSpace(locker);
      // The hold starts at the ack timeout (1.5 s here) and doubles while refused.
      await w.backend.waitFor(() => acksFor(1).some((a) => a.outcome === 'applied'), 15_000, 'the snapshot applied');
      expect(locker.store.codeSetState()).toEqual({ version: 1, digest: codeSetDigestOf(entries) });
      expect(locker.agent.status().restarts).toBe(0);
    });

    it('stops asking for a refused batch once a snapshot after it is taken, even one the store rejects', async () => {
      // The backend's answer is its whole set as it stands: asking again only downloads the
      // same snapshot, and raises a new sync.batch-rejected alert, every few minutes forever.
      const locker = w.locker();
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
      const dup = makeEntries(1, 3);
      w.backend.onSnapshotRequest = (lockerId, req) => {
        w.backend.publishBatch(makeBatch({ lockerId, kind: 'snapshot', fromVersion: req.state.version, toVersion: 1, upserts: [...dup, dup[0]!] }));
      };
      fillState(locker);
      w.backend.publishBatch(delta(0, makeEntries(1, 20)));
      await w.backend.waitFor(() => w.logs.find('code-batch.unrecorded').length === 1, 5000, 'the refused batch');
      freeSpace(locker);
      await w.backend.waitFor(() => acksFor(1).some((a) => a.outcome === 'rejected'), 15_000, 'the snapshot rejected');
      const asked = w.backend.snapshotRequests.length;
      // Past two more holds of the old code (1.5 s doubling).
      await new Promise((r) => setTimeout(r, 5000));
      expect(w.backend.snapshotRequests).toHaveLength(asked);
      expect(locker.store.codeSetState().version).toBe(0);
      expect(locker.agent.status().restarts).toBe(0);
    }, 30_000);
  });
}
