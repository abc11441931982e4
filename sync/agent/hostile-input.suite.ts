import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBatch, makeEntries } from '@locker/device/store/store-test-fixtures.js';
import type { DeviceStore } from '@locker/device/store/device-store.js';
import { topicFor } from '@locker/contract/topics.js';
import { makeWorld, type BrokerFactory, type SuiteWorld } from '@locker/sync-testing/suite-fixture.js';
import { TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';

// A raw client publishes garbage, wrong-schema, oversized, unsigned, forged and mismatched
// messages to a locker's inbound topics. The locker changes nothing (code set, keyring,
// audit acknowledgements, commands, clock floor), logs every rejection with its reason,
// and never logs a token.

interface Snapshot {
  codeSet: unknown;
  keyring: unknown;
  acked: number;
  clockFloor: number;
  commands: unknown;
  acceptedAudit: string[];
}

function snapshot(store: DeviceStore): Snapshot {
  const db = store.database;
  return {
    codeSet: store.codeSetState(),
    keyring: store.keyringRows(),
    acked: store.auditAckedWatermark(),
    clockFloor: store.clockFloor(),
    commands: db.prepare('SELECT * FROM command_log ORDER BY transaction_id').all(),
    // Every audit record except the rejection reports themselves.
    acceptedAudit: (db.prepare("SELECT seq, type FROM audit_log WHERE type <> 'sync.message-rejected' ORDER BY seq").all() as Array<{ seq: number; type: string }>)
      .map((r) => `${String(r.seq)}:${r.type}`),
  };
}


const OTHER_EPOCH = 'ffffffffffffffffffffffffffffffff';

export function defineHostileInputSuite(brokerName: string, startBroker: BrokerFactory): void {
  describe(`hostile input (${brokerName})`, () => {
    let w: SuiteWorld;
    beforeEach(async () => {
      w = await makeWorld(startBroker);
    });
    afterEach(async () => {
      await w.dispose();
    });

    it('rejects and logs every bad message and changes no state', async () => {
      w.backend.autoAck = false;
      const locker = w.locker();
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
      // A legitimate starting state: version 1, one audit record acked... by a valid ack.
      const v1 = makeBatch({ lockerId: TEST_LOCKER_ID, upserts: makeEntries(1, 5) });
      w.backend.publishBatch(v1);
      await w.backend.waitFor(() => w.backend.codeAcks.length === 1, 5000, 'v1');
      const before = snapshot(locker.store);

      const cmd = topicFor(TEST_LOCKER_ID, 'cmd');
      const batch = topicFor(TEST_LOCKER_ID, 'codes/batch');
      const ack = topicFor(TEST_LOCKER_ID, 'audit/ack');
      const { signer, stranger } = w.keys;
      const goodCmd = signer.command(TEST_LOCKER_ID, locker.store.dbEpoch, 'txn-hostile-01', { kind: 'remote-open', compartmentId: 'C1', reason: 'x' }, 60_000);
      const v2 = makeBatch({ lockerId: TEST_LOCKER_ID, fromVersion: 1, toVersion: 2, upserts: makeEntries(10, 5) });
      const goodV2 = signer.codeBatch(v2);
      const tampered = { ...goodV2, batch: { ...v2, upserts: [{ ...v2.upserts[0]!, compartmentId: 'C39' }, ...v2.upserts.slice(1)] } };
      const otherManifest = { ...goodV2, manifest: signer.manifestFor({ ...v2, upserts: v2.upserts.slice(1) }) };
      const json = (v: unknown) => JSON.stringify(v);

      const hostile: Array<[string, string | Buffer, string]> = [
        [cmd, Buffer.from([0xff, 0x00, 0xfe, 0x01]), 'not-utf8'],
        [cmd, 'hello', 'not-json'],
        [batch, '[1,2,3]', 'no-header'],
        [ack, json({ v: 1 }), 'no-header'],
        [cmd, json({ ...goodCmd, v: 2 }), 'unsupported-version'],
        [batch, json({ ...goodV2, type: 'command' }), 'wrong-type'],
        [batch, json({ ...goodV2, batch: { ...v2, toVersion: 'two' } }), 'schema'],
        [cmd, json({ ...goodCmd, seal: 'v4.public.' + 'A'.repeat(10_000) }), 'oversized'],
        [ack, 'x'.repeat(9 * 1024), 'oversized'],
        [cmd, json({ ...goodCmd, seal: stranger.command(TEST_LOCKER_ID, locker.store.dbEpoch, 'txn-hostile-01', { kind: 'remote-open', compartmentId: 'C1', reason: 'x' }, 60_000).seal }), 'signature-invalid'],
        [cmd, json({ ...goodCmd, seal: signer.command('locker-other', locker.store.dbEpoch, 'txn-hostile-01', { kind: 'remote-open', compartmentId: 'C1', reason: 'x' }, 60_000).seal }), 'signature-invalid'],
        [cmd, json({ ...goodCmd, seal: 'not-a-token' }), 'seal-malformed'],
        [cmd, json({ ...goodCmd, transactionId: 'txn-hostile-02' }), 'transaction-mismatch'],
        [cmd, json({ ...goodCmd, seal: signer.auditAck(TEST_LOCKER_ID, locker.store.dbEpoch, 1, []).seal }), 'wrong-typ'],
        [batch, json(stranger.codeBatch(v2)), 'signature-invalid'],
        [batch, json(tampered), 'manifest-mismatch'],
        [batch, json(otherManifest), 'manifest-mismatch'],
        [ack, json(stranger.auditAck(TEST_LOCKER_ID, locker.store.dbEpoch, 1, [])), 'signature-invalid'],
        [ack, json(signer.auditAck(TEST_LOCKER_ID, locker.store.dbEpoch, 1_000_000, [])), 'ack-beyond-high-watermark'],
        // Genuine signatures, but for another database of this locker (one moved aside).
        [cmd, json(signer.command(TEST_LOCKER_ID, OTHER_EPOCH, 'txn-hostile-03', { kind: 'remote-open', compartmentId: 'C1', reason: 'x' }, 60_000)), 'command-wrong-epoch'],
        [ack, json(signer.auditAck(TEST_LOCKER_ID, OTHER_EPOCH, 1, [])), 'ack-wrong-epoch'],
      ];
      for (const [topic, payload] of hostile) await w.backend.publishRaw(topic, payload);
      const rejected = () => w.logs.find('message.rejected');
      await w.backend.waitFor(() => locker.agent.status().rejections >= hostile.length, 10_000, 'all rejections counted');
      await new Promise((r) => setTimeout(r, 100));

      // Every one counted by reason; logged once per topic and reason (the rest are summarised).
      const byReason: Record<string, number> = {};
      for (const [, , reason] of hostile) byReason[reason] = (byReason[reason] ?? 0) + 1;
      expect(locker.agent.status().rejectionsByReason).toEqual(byReason);
      const firsts = [...new Set(hostile.map(([topic, , reason]) => `${topic} ${reason}`))];
      expect(rejected().map((l) => `${String(l['topic'])} ${String(l['reason'])}`)).toEqual(firsts);
      expect(snapshot(locker.store)).toEqual(before);
      expect(locker.port.remote.calls).toEqual([]);
      // Only the command for another epoch is answered (rejected, so its issuer stops
      // retrying); nothing else produced a reply.
      expect(w.backend.replies.map((r) => [r.transactionId, r.status])).toEqual([['txn-hostile-03', 'rejected']]);
      expect(w.logs.text()).not.toContain('v4.public.');
      // The security-relevant ones (and the newer-version one) are reported through the audit log.
      const reported = locker.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 }).filter((r) => r.type === 'sync.message-rejected');
      expect(reported.length).toBe(hostile.filter(([, , r]) => !['not-utf8', 'not-json', 'no-header', 'wrong-type', 'schema', 'oversized', 'ack-wrong-epoch'].includes(r)).length);
      expect(locker.agent.status().connected).toBe(true);
    });
  });
}
