import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceStore } from '@locker/device/store/device-store.js';
import { MAX_PRIORITY_UPLOAD_RECORDS, type AuditUploadMessage } from '@locker/contract/audit-messages.js';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { createStorePort } from '@locker/sync-testing/store-port.js';
import { makeTestKeys, type TestKeys } from '@locker/contract/test-keys.js';
import { openTestLockerStore, TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';
import { AuditUploader } from './audit-uploader.js';
import { RejectionReporter } from './rejection-reporter.js';
import type { SyncContext } from './sync-context.js';

// The uploader without a broker: a real store as the outbox, publishes captured, acks fed
// in by hand, time injected.

describe('AuditUploader', () => {
  let dir: string;
  let store: DeviceStore;
  let keys: TestKeys;
  let sent: AuditUploadMessage[];
  let now: number;
  let uploader: AuditUploader;
  let uploaderCtx: SyncContext;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sync-uploader-'));
    store = openTestLockerStore(dir);
    keys = makeTestKeys();
    sent = [];
    now = 0;
    const logs = captureLogs();
    const port = createStorePort(store);
    const ctx: SyncContext = {
      port, lockerId: TEST_LOCKER_ID, ed: keys.ed, keys: () => keys.keyring, now: () => Date.now(), logger: logs.logger,
      rejections: new RejectionReporter(port, logs.logger, 10),
      isConnected: () => true,
      publish: (suffix, message) => {
        if (suffix === 'audit/upload') sent.push(message as AuditUploadMessage);
      },
      publishStored: () => undefined,
    };
    uploaderCtx = ctx;
    uploader = new AuditUploader(ctx, { batchSize: 10, maxInFlight: 2, ackTimeoutMs: 1000 }, () => now);
    uploader.resume();
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ack = (contiguous: number, also: number[] = []) =>
    uploader.handleAck('t', Buffer.from(JSON.stringify(keys.signer.auditAck(TEST_LOCKER_ID, store.dbEpoch, contiguous, also))));
  const seqs = (m: AuditUploadMessage | undefined) => m?.records.map((r) => r.seq) ?? [];

  it('sends the priority lane first and keeps at most maxInFlight uploads unacked', () => {
    store.transaction(() => {
      for (let i = 1; i <= 30; i++) store.appendAudit(i === 25 ? 'door.uncommanded-open' : 'door.closed', i === 25 ? 'priority' : 'normal', { compartmentId: 'C1', openMs: i, commanded: true });
    });
    uploader.pump();
    expect(sent.map((m) => m.lane)).toEqual(['priority', 'normal']);
    expect(seqs(sent[0])).toEqual([25]);
    expect(seqs(sent[1])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    ack(0, [25]);
    expect(store.auditAckedWatermark()).toBe(0);
    expect(seqs(sent[2])).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    ack(20);
    ack(30);
    expect(store.auditAckedWatermark()).toBe(30);
    expect(sent.flatMap((m) => seqs(m)).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('finishes an upload answered by several acks, without waiting for the timeout', () => {
    // The backend splits the out-of-order seqs of one upload over several acks, each seal at
    // most 2048 characters (backend 201..400 processed before 1..200, say).
    store.transaction(() => {
      for (let i = 1; i <= 30; i++) store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: i, commanded: true });
    });
    uploader.pump();
    expect(sent.map((m) => seqs(m))).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]]);
    ack(0, [11, 12, 13, 14, 15]);
    expect(sent).toHaveLength(2); // half of the second upload: still in flight, the window is full
    ack(0, [16, 17, 18, 19, 20]);
    // The second upload is covered: its slot frees at once, no time has passed.
    expect(sent.map((m) => seqs(m))[2]).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    ack(30);
    expect(store.auditAckedWatermark()).toBe(30);
    now += 1001;
    uploader.pump();
    expect(sent).toHaveLength(3); // nothing timed out, nothing sent again
  });

  it('sends priority records in uploads one ack can cover, and needs no timeout for them', () => {
    const n = 2 * MAX_PRIORITY_UPLOAD_RECORDS + 3;
    store.transaction(() => {
      store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: 1, commanded: true });
      for (let i = 0; i < n; i++) store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'C1' });
    });
    uploader.pump();
    // The backlog (seq 1) stays behind: every priority upload is acked through alsoSeqs.
    for (let k = 0; k < 3; k++) {
      const upload = sent.filter((m) => m.lane === 'priority')[k];
      expect(upload?.records.length).toBe(Math.min(MAX_PRIORITY_UPLOAD_RECORDS, n - k * MAX_PRIORITY_UPLOAD_RECORDS));
      uploader.handleAck('t', Buffer.from(JSON.stringify(keys.signer.auditAck(TEST_LOCKER_ID, store.dbEpoch, 0, seqs(upload), undefined, { alsoHashes: upload!.records.map((r) => r.hash) }))));
    }
    expect(sent.filter((m) => m.lane === 'priority').flatMap((m) => seqs(m))).toEqual(Array.from({ length: n }, (_, i) => i + 2));
    expect(store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 })).toEqual([]);
  });

  it('sends nothing between a connect and its subscription, nor after the connection is lost', () => {
    // Connected but not yet subscribed (no SUBACK): an ack published now may reach no one.
    const early = new AuditUploader(uploaderCtx, { batchSize: 10, maxInFlight: 2, ackTimeoutMs: 1000 }, () => now);
    store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'C1' });
    early.pump();
    expect(sent).toEqual([]);
    early.resume();
    early.pump();
    expect(sent.map((m) => seqs(m))).toEqual([[1]]);
    early.pause();
    store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'C1' });
    early.pump();
    expect(sent).toHaveLength(1);
  });

  it('sends everything unacked again when no ack comes within the timeout', () => {
    store.transaction(() => {
      for (let i = 1; i <= 5; i++) store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: i, commanded: true });
    });
    uploader.pump();
    expect(sent).toHaveLength(1);
    uploader.pump();
    expect(sent).toHaveLength(1); // in flight, not yet timed out
    now += 1001;
    uploader.pump();
    expect(sent.map((m) => seqs(m))).toEqual([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]);
  });

  it('sends an upload nobody acknowledges again although later uploads keep being acknowledged', () => {
    // The backend failed to store the priority upload (its instance restarted, say) and so
    // never acks seq 1; the door events after it flow through the other slot and are acked
    // one by one (alsoSeqs: the backend holds no contiguous prefix without seq 1).
    store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'C1' });
    uploader.pump();
    expect(sent.map((m) => seqs(m))).toEqual([[1]]);
    for (let seq = 2; seq <= 12; seq++) {
      now += 600;
      store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: seq, commanded: true });
      uploader.pump();
      ack(0, [seq]);
    }
    // 6.6 s with no ack for seq 1 and a 1 s timeout: it went again.
    expect(sent.filter((m) => seqs(m).includes(1)).length).toBeGreaterThan(1);
    expect(store.auditAckedWatermark()).toBe(0);
  });

  it('does not time out an upload that waits behind earlier ones the backend is still answering', () => {
    // One backend instance answers in order, each upload just under the timeout: no upload
    // goes unanswered for ackTimeoutMs after the one before it was answered.
    store.transaction(() => {
      for (let i = 1; i <= 20; i++) store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: i, commanded: true });
    });
    uploader.pump();
    expect(sent).toHaveLength(2);
    now += 900;
    ack(10);
    now += 900;
    uploader.pump();
    ack(20);
    expect(sent).toHaveLength(2);
    expect(store.auditAckedWatermark()).toBe(20);
  });

  it("forgets no priority record on an ack naming another record's hash there, and takes a new epoch", () => {
    store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'C1' });
    uploader.pump();
    const epoch = store.dbEpoch;
    const ours = store.auditHashAt(1)!;
    // An ack queued for the database this one was restored from: same epoch, same seq, another record.
    const theirs = ours.replace(/^./, ours.startsWith('0') ? '1' : '0');
    uploader.handleAck('t', Buffer.from(JSON.stringify(keys.signer.auditAck(TEST_LOCKER_ID, epoch, 0, [1], undefined, { alsoHashes: [theirs] }))));
    expect(store.dbEpoch).not.toBe(epoch);
    const resent = sent.at(-1)!;
    expect(resent.dbEpoch).toBe(store.dbEpoch);
    expect(resent.records.map((r) => r.seq)).toContain(1);
    // Its own hash: acknowledged.
    uploader.handleAck('t', Buffer.from(JSON.stringify(keys.signer.auditAck(TEST_LOCKER_ID, store.dbEpoch, 0, resent.records.map((r) => r.seq), undefined, { alsoHashes: resent.records.map((r) => r.hash) }))));
    uploader.rewind();
    const before = sent.length;
    uploader.pump();
    expect(sent.slice(before).filter((m) => m.lane === 'priority')).toEqual([]);
  });

  it('starts again from the shortest hold after a refused epoch renewal finally succeeds', () => {
    let refuseRenewals = 2;
    let refuseAcks = false;
    const full = (): never => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    const port = new Proxy(uploaderCtx.port, {
      get: (target, key) => {
        if (key === 'renewDbEpoch') return (e: { reason: string; conflictAt: number }) => (refuseRenewals-- > 0 ? full() : target.renewDbEpoch(e));
        if (key === 'acknowledgeAudit') return (a: { contiguousSeq: number; alsoSeqs: number[] }) => (refuseAcks ? full() : target.acknowledgeAudit(a));
        return Reflect.get(target, key) as unknown;
      },
    });
    const up = new AuditUploader({ ...uploaderCtx, port }, { batchSize: 10, maxInFlight: 2, ackTimeoutMs: 1000 }, () => now);
    up.resume();
    store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'C1' });
    up.pump();
    const ours = store.auditHashAt(1)!;
    const theirs = ours.replace(/^./, ours.startsWith('0') ? '1' : '0');
    const conflicting = () => up.handleAck('t', Buffer.from(JSON.stringify(keys.signer.auditAck(TEST_LOCKER_ID, store.dbEpoch, 0, [1], undefined, { alsoHashes: [theirs] }))));
    // Two rounds refused (holds of 1 s and 2 s), the third renews.
    const epoch = store.dbEpoch;
    for (const hold of [1000, 2000, 4000]) {
      conflicting();
      now += hold + 1;
      up.pump();
    }
    expect(store.dbEpoch).not.toBe(epoch);
    const renewed = sent.filter((m) => m.dbEpoch === store.dbEpoch);
    up.handleAck('t', Buffer.from(JSON.stringify(keys.signer.auditAck(TEST_LOCKER_ID, store.dbEpoch, Math.max(...renewed.flatMap(seqs)), []))));
    expect(store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 10 })).toEqual([]);
    // Later, an ack the disk refuses: its records go again after the first hold, not the third.
    store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: 1, commanded: true });
    up.pump();
    const seq = seqs(sent.at(-1))[0]!;
    refuseAcks = true;
    up.handleAck('t', Buffer.from(JSON.stringify(keys.signer.auditAck(TEST_LOCKER_ID, store.dbEpoch, seq, []))));
    const before = sent.length;
    now += 1001;
    up.pump();
    expect(sent.slice(before).flatMap(seqs)).toContain(seq);
  });

  it('refuses an ack whose hashes do not pair with its seqs', () => {
    store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'C1' });
    uploader.pump();
    const epoch = store.dbEpoch;
    uploader.handleAck('t', Buffer.from(JSON.stringify(keys.signer.auditAck(TEST_LOCKER_ID, epoch, 0, [1], undefined, { alsoHashes: [] }))));
    expect(store.dbEpoch).toBe(epoch);
    uploader.rewind();
    const before = sent.length;
    uploader.pump();
    expect(sent.slice(before).flatMap((m) => m.records.map((r) => r.seq))).toContain(1);
  });

  it('marks nothing for an ack it cannot verify', () => {
    store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: 1, commanded: true });
    uploader.pump();
    uploader.handleAck('t', Buffer.from(JSON.stringify(keys.stranger.auditAck(TEST_LOCKER_ID, store.dbEpoch, 1, []))));
    expect(store.auditAckedWatermark()).toBe(0);
  });
});
