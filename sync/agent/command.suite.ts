import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackendSigner } from '@locker/contract/backend-signer.js';
import { fillCommandLog, fillState, freeSpace } from '@locker/device/e2e/full-disk.js';
import { makeWorld, type BrokerFactory, type SuiteWorld } from '@locker/sync-testing/suite-fixture.js';
import { TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';

// Commands through a real broker: executed at most once per transaction id however often
// they arrive, the stored reply re-sent on repeats, expired ones refused, and a command cut
// short by a crash answered 'unknown' and never executed again.

export function defineCommandSuite(brokerName: string, startBroker: BrokerFactory): void {
  describe(`commands over MQTT (${brokerName})`, () => {
    let w: SuiteWorld;
    beforeEach(async () => {
      w = await makeWorld(startBroker);
    });
    afterEach(async () => {
      await w.dispose();
    });
    const online = () => w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
    const repliesFor = (txid: string) => w.backend.replies.filter((r) => r.transactionId === txid);

    it('opens once for a remote-open delivered three times and re-signed once more', async () => {
      const locker = w.locker({ remote: { delayMs: 30 } });
      await online();
      const msg = w.backend.publishCommand(TEST_LOCKER_ID, 'txn-open-0001', { kind: 'remote-open', compartmentId: 'C1', reason: 'support ticket 42' });
      w.backend.publish(TEST_LOCKER_ID, 'cmd', msg);
      w.backend.publish(TEST_LOCKER_ID, 'cmd', msg);
      // Copies arriving while the open runs are dropped (it is durably begun; its reply
      // answers them all); copies arriving later get the stored reply.
      await w.backend.waitFor(() => repliesFor('txn-open-0001').length >= 1, 5000, 'reply');
      w.backend.publish(TEST_LOCKER_ID, 'cmd', msg);
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-open-0001', { kind: 'remote-open', compartmentId: 'C1', reason: 'support ticket 42' });
      await w.backend.waitFor(() => repliesFor('txn-open-0001').length >= 3, 5000, 'stored replies');
      expect(locker.port.remote.calls).toEqual([{ transactionId: 'txn-open-0001', compartmentId: 'C1', reason: 'support ticket 42' }]);
      const replies = repliesFor('txn-open-0001');
      expect(new Set(replies.map((r) => r.id)).size).toBe(1); // the stored reply, verbatim
      expect(replies[0]).toMatchObject({ status: 'ok', result: { kind: 'remote-open', outcome: 'opened' } });
    });

    it('keeps processing batches and acks while a slow remote open runs', async () => {
      const locker = w.locker({ remote: { delayMs: 1500 } });
      await online();
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-slow-0001', { kind: 'remote-open', compartmentId: 'C2', reason: 'slow door' });
      await new Promise((r) => setTimeout(r, 100));
      locker.store.appendAudit('door.closed', 'normal', { compartmentId: 'C9', openMs: 1200, commanded: false });
      const high = locker.store.auditHighWatermark();
      await w.backend.waitFor(() => locker.store.auditAckedWatermark() >= high, 1000, 'ack during the open');
      expect(repliesFor('txn-slow-0001')).toHaveLength(0);
      await w.backend.waitFor(() => repliesFor('txn-slow-0001').length === 1, 5000, 'reply');
    });

    it('replies with status unknown when the device cannot know whether the door opened', async () => {
      const locker = w.locker({ remote: { outcome: 'unknown' } });
      await online();
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-unk-0001', { kind: 'remote-open', compartmentId: 'C1', reason: 'support' });
      await w.backend.waitFor(() => repliesFor('txn-unk-0001').length === 1, 5000, 'reply');
      expect(repliesFor('txn-unk-0001')[0]).toMatchObject({ status: 'unknown', result: { kind: 'remote-open', outcome: 'unknown' } });
      expect(locker.port.remote.calls).toHaveLength(1);
    });

    it('refuses an expired command and never executes it', async () => {
      const locker = w.locker();
      await online();
      // Signed two minutes ago with a one-minute lifetime (the signer's clock is injectable).
      const signerNow = Date.now() - 120_000;
      const pastSigner = new BackendSigner({ ed: w.keys.ed, kid: w.keys.signer.kid, seed: w.keys.seed, now: () => signerNow });
      w.backend.publish(TEST_LOCKER_ID, 'cmd', pastSigner.command(TEST_LOCKER_ID, locker.store.dbEpoch, 'txn-late-0001', { kind: 'remote-open', compartmentId: 'C1', reason: 'late' }, 60_000));
      await w.backend.waitFor(() => repliesFor('txn-late-0001').length === 1, 5000, 'reply');
      expect(repliesFor('txn-late-0001')[0]).toMatchObject({ status: 'rejected', reason: 'expired' });
      expect(locker.port.remote.calls).toHaveLength(0);
    });

    it('refuses a command issued to another database epoch and never executes it', async () => {
      const locker = w.locker();
      await online();
      const otherEpoch = 'ffffffffffffffffffffffffffffffff';
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-epoch-001', { kind: 'remote-open', compartmentId: 'C1', reason: 'old db' }, 60_000, otherEpoch);
      await w.backend.waitFor(() => repliesFor('txn-epoch-001').length === 1, 5000, 'reply');
      expect(repliesFor('txn-epoch-001')[0]).toMatchObject({ status: 'rejected', reason: 'issued to another database epoch' });
      expect(locker.port.remote.calls).toHaveLength(0);
      // Nothing recorded against this database: the same transaction for this epoch runs.
      expect(locker.store.findCommandReply('txn-epoch-001')).toBeUndefined();
      const audited = locker.store.database.prepare<[], { data_json: string }>(`SELECT data_json FROM audit_log WHERE type = 'sync.message-rejected'`).all();
      expect(audited.map((r) => JSON.parse(r.data_json) as Record<string, unknown>)).toContainEqual(expect.objectContaining({ reason: 'command-wrong-epoch', transactionId: 'txn-epoch-001' }));
    });

    it('answers a command interrupted by a crash as unknown and never opens for it', async () => {
      // The previous process began the command (journaled) and died before completing it.
      const first = w.locker({ start: false });
      first.store.beginCommand('txn-crash-001', 'remote-open', Date.now() + 60_000);
      await first.close();
      const locker = w.locker();
      await w.backend.waitFor(() => repliesFor('txn-crash-001').length === 1, 5000, 'unknown reply at start');
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-crash-001', { kind: 'remote-open', compartmentId: 'C1', reason: 'retry' });
      await w.backend.waitFor(() => repliesFor('txn-crash-001').length === 2, 5000, 'stored reply');
      expect(repliesFor('txn-crash-001').map((r) => r.status)).toEqual(['unknown', 'unknown']);
      expect(locker.port.remote.calls).toHaveLength(0);
      expect(locker.store.unfinishedCommands()).toEqual([]);
    });

    it('comes online although an unfinished command in the log cannot be answered on the wire', async () => {
      // An id no verified command carries (the wire wants 8 or more characters): a damaged
      // or hand-edited database. Next to it, a real one cut short by the previous process.
      const first = w.locker({ start: false });
      first.store.beginCommand('bad', 'remote-open', Date.now() + 60_000);
      first.store.beginCommand('txn-crash-002', 'remote-open', Date.now() + 60_000);
      await first.close();
      const locker = w.locker();
      await w.backend.waitFor(() => repliesFor('txn-crash-002').length === 1, 5000, 'unknown reply at start');
      expect(w.logs.find('command.unknown-unanswerable')).toEqual([expect.objectContaining({ transactionId: 'bad', kind: 'remote-open' })]);
      expect(locker.agent.status()).toMatchObject({ restarts: 0, connected: true });
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-after-bad', { kind: 'remote-open', compartmentId: 'C1', reason: 'support' });
      await w.backend.waitFor(() => repliesFor('txn-after-bad').length === 1, 5000, 'a command after it');
      expect(repliesFor('txn-after-bad')[0]).toMatchObject({ status: 'ok' });
    });

    it('comes online and answers a command cut short by a restart while the disk is still full', async () => {
      // The previous process began the command and died with its reply only in memory.
      const first = w.locker({ start: false });
      first.store.beginCommand('txn-full-0002', 'remote-open', Date.now() + 60_000);
      await first.close();
      const locker = w.locker({ start: false });
      let full = true;
      const refuse = (): never => {
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      };
      const complete = locker.port.completeCommand.bind(locker.port);
      const append = locker.port.appendAudit.bind(locker.port);
      locker.port.completeCommand = (t, j) => (full ? refuse() : complete(t, j));
      locker.port.appendAudit = (type, lane, data) => (full ? refuse() : append(type, lane, data));
      locker.agent.start();
      // Online (the backend must see the health report saying the disk is full), and the
      // command answered 'unknown', never executed.
      await online();
      await w.backend.waitFor(() => repliesFor('txn-full-0002').length === 1, 5000, 'unknown reply at start');
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-full-0002', { kind: 'remote-open', compartmentId: 'C1', reason: 'retry' });
      await w.backend.waitFor(() => repliesFor('txn-full-0002').length === 2, 5000, 'the same reply to a repeat');
      expect(new Set(repliesFor('txn-full-0002').map((r) => r.id)).size).toBe(1);
      expect(repliesFor('txn-full-0002')[0]).toMatchObject({ status: 'unknown' });
      expect(locker.port.remote.calls).toHaveLength(0);
      expect(locker.agent.status().restarts).toBe(0);
      full = false;
      await w.backend.waitFor(() => locker.store.unfinishedCommands().length === 0, 3000, 'reply stored once space is back');
    });

    it('stores a reply the full disk refused once space is back, without waiting for a repeat', async () => {
      const locker = w.locker();
      await online();
      // The disk refuses the reply's write (a full SD card); the door had opened.
      let full = true;
      const complete = locker.port.completeCommand.bind(locker.port);
      locker.port.completeCommand = (t, j) => {
        if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        complete(t, j);
      };
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-full-0001', { kind: 'remote-open', compartmentId: 'C1', reason: 'support' });
      await w.backend.waitFor(() => repliesFor('txn-full-0001').length === 1, 5000, 'reply despite the full disk');
      expect(locker.store.findCommandReply('txn-full-0001')?.replyJson).toBeUndefined();
      // The backend has its reply and sends no repeat; the session does not restart. The
      // reply must still reach the store, or a restart would answer 'unknown' for a door
      // that opened (and audit it as interrupted).
      full = false;
      await w.backend.waitFor(() => locker.store.findCommandReply('txn-full-0001')?.replyJson !== undefined, 3000, 'reply stored late');
      expect(JSON.parse(locker.store.findCommandReply('txn-full-0001')?.replyJson ?? '{}')).toMatchObject({ id: repliesFor('txn-full-0001')[0]?.id, status: 'ok' });
      expect(locker.store.unfinishedCommands()).toEqual([]);
      expect(locker.port.remote.calls).toHaveLength(1);
    });

    it('answers a command arriving on a full disk failed at once, stays online, never runs it, and runs a new one once space is back', async () => {
      const locker = w.locker();
      await online();
      // The real SQLite file full to its command log's last page: the begin is refused.
      fillCommandLog(locker);
      const msg = w.backend.publishCommand(TEST_LOCKER_ID, 'txn-full-0003', { kind: 'remote-open', compartmentId: 'C1', reason: 'support' });
      await w.backend.waitFor(() => repliesFor('txn-full-0003').length === 1, 3000, 'a prompt reply, not a command pending until it expires');
      expect(repliesFor('txn-full-0003')[0]).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^DB_WRITE_FAILED: /) as unknown });
      expect(locker.port.remote.calls).toHaveLength(0);
      expect(locker.store.findCommandReply('txn-full-0003')).toBeUndefined();
      expect(w.logs.find('command.refused-unrecorded')).toEqual([
        expect.objectContaining({ transactionId: 'txn-full-0003', kind: 'remote-open', errorCode: 'DB_WRITE_FAILED', storageCode: 'SQLITE_FULL', executed: false }),
      ]);
      // The session goes on and the message was acknowledged: no restart, and the broker
      // delivers no copy (a copy would be answered a second time).
      await new Promise((r) => setTimeout(r, 500));
      expect(locker.agent.status()).toMatchObject({ restarts: 0, connected: true });
      expect(w.logs.find('sync-agent.failed')).toEqual([]);
      expect(repliesFor('txn-full-0003')).toHaveLength(1);

      // Space back: the agent's tick records the refusal; a copy gets the same reply, unexecuted.
      freeSpace(locker);
      await w.backend.waitFor(() => locker.store.findCommandReply('txn-full-0003')?.replyJson !== undefined, 3000, 'refusal recorded');
      w.backend.publish(TEST_LOCKER_ID, 'cmd', msg);
      await w.backend.waitFor(() => repliesFor('txn-full-0003').length === 2, 5000, 'the same reply to a copy');
      expect(new Set(repliesFor('txn-full-0003').map((r) => r.id)).size).toBe(1);
      expect(locker.port.remote.calls).toHaveLength(0);
      // Support's retry is a new transaction, executed normally.
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-full-0004', { kind: 'remote-open', compartmentId: 'C1', reason: 'support' });
      await w.backend.waitFor(() => repliesFor('txn-full-0004').length === 1, 5000, 'reply');
      expect(repliesFor('txn-full-0004')[0]).toMatchObject({ status: 'ok', result: { kind: 'remote-open', outcome: 'opened' } });
      expect(locker.port.remote.calls).toEqual([{ transactionId: 'txn-full-0004', compartmentId: 'C1', reason: 'support' }]);
    });

    it('answers a command on a full disk although its signed time cannot be recorded, and stays online', async () => {
      const locker = w.locker({ start: false });
      // As the runtime observes a signed time while its clock is unconfirmed: the floor and a
      // clock.signed-time record, in one transaction, on the real (full) SQLite file.
      locker.port.observeTrustedTime = (epochMs, source) => {
        locker.store.transaction(() => {
          locker.store.raiseClockFloor(Math.floor(epochMs));
          locker.store.appendAudit('clock.signed-time', 'normal', { source, epochMs, floorMs: 0, correctionMs: epochMs, trust: 'confirmed' });
        });
      };
      locker.agent.start();
      await online();
      fillState(locker);
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-full-0005', { kind: 'remote-open', compartmentId: 'C1', reason: 'support' });
      await w.backend.waitFor(() => repliesFor('txn-full-0005').length === 1, 3000, 'a reply');
      expect(repliesFor('txn-full-0005')[0]).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^DB_WRITE_FAILED: /) as unknown });
      // (An audit ack arriving meanwhile is refused the same way, source 'audit-ack'.)
      const commandTime = w.logs.find('clock.signed-time-unrecorded').filter((l) => (l as { source?: unknown }).source === 'command');
      expect(commandTime).toEqual([expect.objectContaining({ errorCode: 'DB_WRITE_FAILED', storageCode: 'SQLITE_FULL' })]);
      expect(locker.port.remote.calls).toHaveLength(0);
      expect(locker.agent.status()).toMatchObject({ restarts: 0, connected: true });
      expect(w.logs.find('sync-agent.failed')).toEqual([]);
    });

    it('answers resync with a snapshot request and report-health with the health summary', async () => {
      w.locker();
      await online();
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-resync-01', { kind: 'resync' });
      w.backend.publishCommand(TEST_LOCKER_ID, 'txn-health-01', { kind: 'report-health' });
      await w.backend.waitFor(() => repliesFor('txn-health-01').length === 1 && repliesFor('txn-resync-01').length === 1, 5000, 'replies');
      expect(w.backend.snapshotRequests.some((r) => r.reason === 'resync-command')).toBe(true);
      expect(repliesFor('txn-health-01')[0]).toMatchObject({ status: 'ok', result: { kind: 'report-health' } });
    });

    it('returns an out-of-service compartment to service once for a command delivered twice, and audits it', async () => {
      const locker = w.locker();
      locker.store.syncCompartmentLayout([{ id: 'C1', size: 'M' }]);
      locker.store.setCompartmentStatus('C1', 'out-of-service', { reason: 'jammed' });
      locker.store.recordCompartmentFailure('C1');
      await online();
      const msg = w.backend.publishCommand(TEST_LOCKER_ID, 'txn-service-01', { kind: 'set-compartment-service', compartmentId: 'C1', inService: true, reason: 'door repaired' });
      await w.backend.waitFor(() => repliesFor('txn-service-01').length === 1, 5000, 'reply');
      w.backend.publish(TEST_LOCKER_ID, 'cmd', msg);
      await w.backend.waitFor(() => repliesFor('txn-service-01').length === 2, 5000, 'stored reply');
      const replies = repliesFor('txn-service-01');
      expect(new Set(replies.map((r) => r.id)).size).toBe(1);
      expect(replies[0]).toMatchObject({ status: 'ok', result: { kind: 'set-compartment-service', outcome: 'changed', status: 'free' } });
      expect(locker.store.getCompartment('C1')).toMatchObject({ status: 'free', failureCount: 0 });
      // Audited in the priority lane; the agent uploads it (the backend's ledger is what it stored).
      const inService = () => [...w.backend.ledger(TEST_LOCKER_ID).stored.values()].filter((r) => r.type === 'compartment.in-service');
      await w.backend.waitFor(() => inService().length === 1, 5000, 'the uploaded audit record');
      expect(inService()[0]?.lane).toBe('priority');
    });
  });
}
