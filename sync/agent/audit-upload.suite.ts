import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV_HASH } from '@locker/contract/audit/audit-hash.js';
import { verifyAuditChain } from '@locker/contract/audit/audit-chain.js';
import { fillState, freeSpace } from '@locker/device/e2e/full-disk.js';
import { makeWorld, type BrokerFactory, type SuiteWorld } from '@locker/sync-testing/suite-fixture.js';
import { TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';

// Audit upload from the durable outbox: a long offline stretch is delivered completely and
// in order once the locker is back, priority events ahead of the backlog; records are
// marked only on the backend's ack and pruned only after the retention.

export function defineAuditUploadSuite(brokerName: string, startBroker: BrokerFactory): void {
  describe(`audit upload over MQTT (${brokerName})`, () => {
    let w: SuiteWorld;
    beforeEach(async () => {
      w = await makeWorld(startBroker);
    });
    afterEach(async () => {
      await w.dispose();
    });

    it('delivers 2,500 events queued offline in order, the priority ones first', async () => {
      const offline = w.locker({ start: false });
      const prioritySeqs: number[] = [];
      // One transaction: the test is about the upload, not about 2,500 fsyncs.
      offline.store.transaction(() => {
        for (let i = 1; i <= 2_500; i++) {
          if (i % 500 === 0) prioritySeqs.push(offline.store.appendAudit('keypad.lockout', 'priority', { reason: 'consecutive', lockoutMs: i, consecutive: 5 }).seq);
          else offline.store.appendAudit('door.closed', 'normal', { compartmentId: `C${String(i % 40)}`, openMs: i, commanded: true });
        }
      });
      await offline.close();

      const locker = w.locker();
      const ledger = w.backend.ledger(TEST_LOCKER_ID);
      await w.backend.waitFor(() => ledger.contiguous === 2_500, 20_000, 'all records stored');
      await w.backend.waitFor(() => locker.store.auditAckedWatermark() === 2_500, 5_000, 'locker acked');

      // Every priority record arrived before the first normal upload.
      const firstNormal = ledger.uploads.findIndex((u) => u.lane === 'normal');
      const priorityUploads = ledger.uploads.slice(0, firstNormal);
      expect(priorityUploads.every((u) => u.lane === 'priority')).toBe(true);
      expect(ledger.firstArrivals.slice(0, prioritySeqs.length)).toEqual(prioritySeqs);
      // The backlog in sequence order, nothing missing, nothing foreign.
      const normal = ledger.firstArrivals.slice(prioritySeqs.length);
      expect(normal).toEqual([...normal].sort((a, b) => a - b));
      expect(ledger.stored.size).toBe(2_500);
      expect(ledger.conflicting).toBe(0);
      const chain = verifyAuditChain([...ledger.stored.values()].sort((a, b) => a.seq - b.seq), GENESIS_PREV_HASH);
      expect(chain).toEqual({ ok: true, records: 2_500, firstSeq: 1, lastSeq: 2_500 });
    });

    it('splits uploads by size, so large records never block the outbox', async () => {
      const locker = w.locker();
      locker.store.transaction(() => {
        for (let i = 0; i < 12; i++) locker.store.appendUncheckedAudit('diagnostics.dump', 'normal', { n: i, blob: 'x'.repeat(i % 3 === 0 ? 600_000 : 10) });
      });
      const ledger = w.backend.ledger(TEST_LOCKER_ID);
      await w.backend.waitFor(() => ledger.contiguous === 12 && locker.store.auditAckedWatermark() === 12, 10_000, 'all stored');
      expect(ledger.uploads.length).toBeGreaterThan(1);
      expect(w.logs.find('publish.encode-failed')).toEqual([]);
    });

    it('keeps records until the backend acks them, then prunes only past the retention', async () => {
      w.backend.autoAck = false;
      const locker = w.locker({ config: { audit: { pollMs: 20, retentionMs: 0, pruneEveryMs: 20, ackTimeoutMs: 60_000 } } });
      for (let i = 0; i < 30; i++) locker.store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: i, commanded: true });
      const ledger = w.backend.ledger(TEST_LOCKER_ID);
      await w.backend.waitFor(() => ledger.stored.size === 30, 5000, 'upload');
      await new Promise((r) => setTimeout(r, 100));
      expect(locker.store.auditAckedWatermark()).toBe(0);
      expect(locker.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 100 })).toHaveLength(30);
      // The backend acks 20 of them: exactly those are acknowledged, then pruned.
      w.backend.publish(TEST_LOCKER_ID, 'audit/ack', w.keys.signer.auditAck(TEST_LOCKER_ID, locker.store.dbEpoch, 20, []));
      await w.backend.waitFor(() => locker.store.auditAckedWatermark() === 20, 5000, 'ack applied');
      await new Promise((r) => setTimeout(r, 100));
      expect(locker.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 100 }).map((r) => r.seq)).toEqual(
        Array.from({ length: 10 }, (_, i) => 21 + i),
      );
      const check = locker.store.verifyAuditChain();
      expect(check).toMatchObject({ ok: true, firstSeq: 21, lastSeq: 30 });
    });

    it('leaves an ack the full disk refuses unapplied, stays online, paces the re-sends and is acked once space is back', async () => {
      const locker = w.locker({ start: false, config: { healthIntervalMs: 500 } });
      for (let i = 0; i < 5; i++) locker.store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: i, commanded: true });
      // The real SQLite file full to the last page of every table the ack writes.
      fillState(locker);
      const high = locker.store.auditHighWatermark();
      locker.agent.start();
      const ledger = w.backend.ledger(TEST_LOCKER_ID);
      await w.backend.waitFor(() => w.logs.find('audit.ack-unrecorded').length > 0, 5000, 'the refused ack');
      expect(w.logs.find('audit.ack-unrecorded')[0]).toMatchObject({ errorCode: 'DB_WRITE_FAILED', storageCode: 'SQLITE_FULL', records: high, fromSeq: 1, toSeq: high });
      const healthAtFirstRefusal = w.backend.health.length;
      // ackTimeoutMs is 1500: re-sent 1.5 s later, then 3 s after that; not once per ack or per poll.
      await new Promise((r) => setTimeout(r, 3000));
      expect(locker.agent.status()).toMatchObject({ restarts: 0, connected: true });
      expect(w.logs.find('sync-agent.failed')).toEqual([]);
      expect(ledger.uploads).toHaveLength(2);
      expect(locker.store.auditAckedWatermark()).toBe(0);
      expect(locker.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 100 })).toHaveLength(high);
      // The health report still goes out on its interval (it tells the backend the disk is full).
      expect(w.backend.health.length).toBeGreaterThanOrEqual(healthAtFirstRefusal + 4);

      // Space back: the held records go again at the end of the hold and are acknowledged.
      freeSpace(locker);
      await w.backend.waitFor(() => locker.store.auditAckedWatermark() === high, 5000, 'acked once space is back');
      expect(ledger.stored.size).toBe(high);
      expect(ledger.conflicting).toBe(0);
      expect(w.logs.find('audit.ack-recorded-again')).toHaveLength(1);
      expect(locker.agent.status().restarts).toBe(0);
    });

    it('pauses instead of restarting the session when the full disk refuses the new epoch a conflicting ack asks for', async () => {
      w.backend.autoAck = false;
      const locker = w.locker({ start: false, config: { healthIntervalMs: 500 } });
      for (let i = 0; i < 5; i++) locker.store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: i, commanded: true });
      fillState(locker);
      const epoch = locker.store.dbEpoch;
      locker.agent.start();
      const ledger = w.backend.ledger(TEST_LOCKER_ID);
      await w.backend.waitFor(() => ledger.uploads.length > 0, 5000, 'the upload');
      // The backend holds another record at seq 5 of this epoch: this file is a restored copy.
      const conflicting = () => w.keys.signer.auditAck(TEST_LOCKER_ID, epoch, 5, [], undefined, { contiguousHash: 'ab'.repeat(32) });
      w.backend.publish(TEST_LOCKER_ID, 'audit/ack', conflicting());
      await w.backend.waitFor(() => w.logs.find('audit.epoch-renew-unrecorded').length > 0, 5000, 'the refused renewal');
      expect(w.logs.find('audit.epoch-renew-unrecorded')[0]).toMatchObject({ errorCode: 'DB_WRITE_FAILED', storageCode: 'SQLITE_FULL', epoch, conflictAt: 5 });
      await new Promise((r) => setTimeout(r, 500));
      expect(locker.agent.status()).toMatchObject({ restarts: 0, connected: true });
      expect(w.logs.find('sync-agent.failed')).toEqual([]);
      expect(locker.store.dbEpoch).toBe(epoch);
      // Space back: the same conflict now renews the epoch, still without a restart.
      freeSpace(locker);
      w.backend.publish(TEST_LOCKER_ID, 'audit/ack', conflicting());
      await w.backend.waitFor(() => locker.store.dbEpoch !== epoch, 5000, 'the renewed epoch');
      expect(w.logs.find('audit.epoch-renewed')).toHaveLength(1);
      expect(locker.agent.status().restarts).toBe(0);
    });
  });
}
