import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BrokerHarness } from '@locker/sync-testing/broker-harness.js';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { makeTestKeys } from '@locker/contract/test-keys.js';
import { startTestLocker, type TestLocker } from '@locker/sync-testing/test-locker.js';
import type { App } from '../http/app.js';
import { systemClock } from '../shared/clock.js';
import { topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { waitFor } from '../testing/wait-for.js';
import { bridgeSubscriptions } from './locker-bridge.js';
import { MqttTransport } from './mqtt-transport.js';

// The reset procedure of docs/operations.md, end to end: the real backend (HTTP API,
// SQLite, signing keys) and the real sync agent on a real DeviceStore file, over a broker.
// An operator moves the locker's database aside and starts fresh. Afterwards a genuine
// remote-open captured from the broker before the reset and published again must not open
// the door, and the fresh database's audit records — numbered from 1 again — must be stored
// under its new epoch and acknowledged, with the old epoch's records intact and no
// chain-break alert. A database restored from a backup comes back with its old epoch and
// seqs the backend already holds other records at: it must notice and start a new epoch,
// so what it writes afterwards is stored and acknowledged too.

const LOCKER = 'locker-test-1';
const LAYOUT = [{ id: 'S1', size: 'S' as const }, { id: 'S2', size: 'S' as const }];

export function describeDatabaseReset(name: string, startBroker: () => Promise<BrokerHarness>): void {
  describe(`device database reset (${name})`, () => {
    let broker: BrokerHarness;
    let f: BackendFixture;
    let app: App;
    let transport: MqttTransport;
    let spy: MqttClient;
    let lockerDir: string;
    let rows: Array<{ kid: string; publicKey: string; revoked: boolean }>;
    let locker: TestLocker | undefined;
    const captured: Buffer[] = [];
    const lockerLogs = captureLogs('info');

    const startLocker = (): TestLocker => {
      const l = startTestLocker({ broker, keys: { ...makeTestKeys(), rows }, dir: lockerDir, lockerId: LOCKER, logger: lockerLogs.logger });
      l.store.syncCompartmentLayout(LAYOUT);
      return l;
    };
    const current = (): TestLocker => {
      if (locker === undefined) throw new Error('no locker');
      return locker;
    };
    const allAcked = (l: TestLocker) => () => l.store.auditHighWatermark() > 0 && l.store.auditAckedWatermark() === l.store.auditHighWatermark();

    beforeEach(async () => {
      captured.length = 0;
      broker = await startBroker();
      f = await makeBackend({ clock: systemClock, logger: captureLogs('info').logger });
      app = await f.app();
      const reg = await app.inject({ method: 'POST', url: '/lockers', payload: lockerInput(LOCKER, 50.1, 8.6, { S: 2 }) });
      expect(reg.statusCode).toBe(201);
      const keyring = reg.json<{ provisioning: { keyring: Array<{ op: string; kid: string; publicKey?: string }> } }>().provisioning.keyring;
      rows = keyring.flatMap((k) => (k.op === 'trust' && k.publicKey !== undefined ? [{ kid: k.kid, publicKey: k.publicKey, revoked: false }] : []));
      transport = new MqttTransport({ url: broker.url, clientId: 'backend-test', protocolVersion: broker.protocolVersion, subscriptions: bridgeSubscriptions, logger: captureLogs('info').logger, onMessage: (t, p) => f.services.bridge.onMessage(t, p) });
      f.services.bridge.attach(transport);
      await transport.start();
      // Someone with access to the broker records every command sent to the locker.
      spy = connect(broker.url, { clientId: 'eavesdropper', clean: true, protocolVersion: broker.protocolVersion, reconnectPeriod: 0 });
      spy.on('message', (_topic, payload) => captured.push(Buffer.from(payload)));
      await new Promise<void>((resolve, reject) => {
        spy.once('connect', () => resolve());
        spy.once('error', reject);
      });
      await spy.subscribeAsync(topicFor(LOCKER, 'cmd'), { qos: 1 });
      lockerDir = join(f.dir, 'locker');
      mkdirSync(lockerDir, { recursive: true });
      locker = startLocker();
      await waitFor(async () => (await f.services.lockers.get(LOCKER)).online, 'locker online');
    });

    afterEach(async () => {
      await locker?.close();
      locker = undefined;
      await spy.endAsync(true);
      await transport.stop();
      await f.services.bridge.idle();
      await f.close();
      await broker.close();
    });

    it('refuses a captured remote open after the database was replaced, and keeps both epochs\' audit records', async () => {
      const before = current();
      const oldEpoch = before.store.dbEpoch;
      await waitFor(async () => (await f.store.audit.currentEpoch(LOCKER)) === oldEpoch, 'backend learnt the first epoch');

      // Before the reset: a genuine remote open, executed once; the same bytes again are refused.
      const res = await app.inject({ method: 'POST', url: `/lockers/${LOCKER}/commands`, payload: { command: { kind: 'remote-open', compartmentId: 'S1', reason: 'customer on the phone' } } });
      expect(res.statusCode).toBe(202);
      const txid = res.json<{ transactionId: string }>().transactionId;
      await waitFor(async () => (await f.services.commands.get(txid)).state === 'replied', 'command replied');
      expect(before.port.remote.calls).toHaveLength(1);
      await waitFor(() => captured.length >= 1, 'command captured from the broker');
      const replay = captured[0]!;
      for (let n = 1; n <= 5; n++) before.store.appendAudit('door.closed', 'normal', { compartmentId: 'S2', openMs: n, commanded: true });
      await waitFor(allAcked(before), 'first database acknowledged');
      const oldCount = await f.store.audit.count(LOCKER, oldEpoch);
      expect(oldCount).toBe(before.store.auditHighWatermark());
      const oldLast = await f.store.audit.get(LOCKER, oldEpoch, oldCount);

      // The reset of docs/operations.md: stop, move the database aside, start fresh.
      await before.close();
      locker = undefined;
      for (const suffix of ['', '-wal', '-shm']) {
        const file = join(lockerDir, `device.sqlite${suffix}`);
        if (existsSync(file)) renameSync(file, `${file}.moved-aside`);
      }
      const after = startLocker();
      locker = after;
      const newEpoch = after.store.dbEpoch;
      expect(newEpoch).not.toBe(oldEpoch);
      await waitFor(async () => (await f.store.audit.currentEpoch(LOCKER)) === newEpoch, 'backend learnt the new epoch from the presence');

      // The captured command, published again: refused, the door stays shut.
      await spy.publishAsync(topicFor(LOCKER, 'cmd'), replay, { qos: 1 });
      await waitFor(() => lockerLogs.find('message.rejected').some((l) => l['reason'] === 'command-wrong-epoch'), 'replay refused');
      expect(after.port.remote.calls).toEqual([]);
      expect(after.store.findCommandReply(txid)).toBeUndefined();

      // The fresh database numbers its records from 1; they are stored under the new epoch
      // and acknowledged, the old epoch's records stay as they were, no chain-break alert.
      for (let n = 1; n <= 5; n++) after.store.appendAudit('door.closed', 'normal', { compartmentId: 'S3', openMs: n, commanded: false });
      await waitFor(allAcked(after), 'fresh database acknowledged', 15_000);
      const high = after.store.auditHighWatermark();
      expect(await f.store.audit.count(LOCKER, newEpoch)).toBe(high);
      expect(await f.store.audit.contiguousSeq(LOCKER, newEpoch)).toBe(high);
      const deviceFirst = after.store.database.prepare<[], { hash: string }>('SELECT hash FROM audit_log WHERE seq = 1').get();
      expect((await f.store.audit.get(LOCKER, newEpoch, 1))?.hash).toBe(deviceFirst?.hash);
      expect(await f.store.audit.count(LOCKER, oldEpoch)).toBe(oldCount);
      expect(await f.store.audit.get(LOCKER, oldEpoch, oldCount)).toEqual(oldLast);
      expect(await f.store.audit.chainBrokenAt(LOCKER)).toBeUndefined();
      expect((await f.store.alerts.list(LOCKER)).filter((a) => a.kind === 'audit.chain-break')).toEqual([]);
      expect(lockerLogs.find('message.rejected').filter((l) => l['reason'] === 'ack-beyond-high-watermark')).toEqual([]);
      // The refusal itself reached the backend through the new epoch's audit chain.
      const refused: Array<Record<string, unknown>> = [];
      for (let seq = 1; seq <= high; seq++) {
        const r = await f.store.audit.get(LOCKER, newEpoch, seq);
        if (r?.type === 'sync.message-rejected') refused.push(JSON.parse(r.dataJson) as Record<string, unknown>);
      }
      expect(refused).toContainEqual(expect.objectContaining({ reason: 'command-wrong-epoch', transactionId: txid }));
    }, 60_000);

    it('signs new commands for the new epoch, which the fresh database executes', async () => {
      await waitFor(async () => (await f.store.audit.currentEpoch(LOCKER)) === current().store.dbEpoch, 'backend learnt the first epoch');
      await current().close();
      locker = undefined;
      renameSync(join(lockerDir, 'device.sqlite'), join(lockerDir, 'device.sqlite.moved-aside'));
      const after = startLocker();
      locker = after;
      await waitFor(async () => (await f.store.audit.currentEpoch(LOCKER)) === after.store.dbEpoch, 'backend learnt the new epoch');
      const res = await app.inject({ method: 'POST', url: `/lockers/${LOCKER}/commands`, payload: { command: { kind: 'remote-open', compartmentId: 'S2', reason: 'after the reset' } } });
      const txid = res.json<{ transactionId: string }>().transactionId;
      await waitFor(async () => (await f.services.commands.get(txid)).state === 'replied', 'command replied');
      expect((await f.services.commands.get(txid)).reply).toMatchObject({ status: 'ok', result: { outcome: 'opened' } });
      expect(after.port.remote.calls.map((c) => c.compartmentId)).toEqual(['S2']);
    }, 60_000);

    it('starts a new epoch when restored from a backup, so its new audit records are stored and acknowledged', async () => {
      const files = ['', '-wal', '-shm'].map((suffix) => join(lockerDir, `device.sqlite${suffix}`));
      const first = current();
      const epoch = first.store.dbEpoch;
      for (let n = 1; n <= 3; n++) first.store.appendAudit('door.closed', 'normal', { compartmentId: 'S1', openMs: n, commanded: false });
      await waitFor(allAcked(first), 'first records acknowledged');
      await first.close();
      locker = undefined;
      // The nightly backup, then a day of use the backend acknowledged.
      for (const file of files) if (existsSync(file)) copyFileSync(file, `${file}.backup`);
      const live = startLocker();
      locker = live;
      for (let n = 1; n <= 5; n++) live.store.appendAudit('door.closed', 'normal', { compartmentId: 'S2', openMs: n, commanded: true });
      await waitFor(allAcked(live), 'the day acknowledged');
      const liveHigh = live.store.auditHighWatermark();
      await live.close();
      locker = undefined;

      // The database is restored from last night's backup.
      for (const file of files) {
        rmSync(file, { force: true });
        if (existsSync(`${file}.backup`)) copyFileSync(`${file}.backup`, file);
      }
      const restored = startLocker();
      locker = restored;
      for (let n = 1; n <= 5; n++) restored.store.appendAudit('door.closed', 'normal', { compartmentId: 'S1', openMs: 100 + n, commanded: false });
      await waitFor(allAcked(restored), 'the restored database acknowledged', 15_000);

      const renewed = restored.store.dbEpoch;
      expect(renewed).not.toBe(epoch);
      await waitFor(async () => (await f.store.audit.currentEpoch(LOCKER)) === renewed, 'backend follows the new epoch');
      // Every record the restored database holds reached the backend under one epoch or the other.
      const local = restored.store.database.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq').all();
      for (const r of local) {
        const stored = [(await f.store.audit.get(LOCKER, epoch, r.seq))?.hash, (await f.store.audit.get(LOCKER, renewed, r.seq))?.hash];
        expect(stored).toContain(r.hash);
      }
      // The old epoch's records, from the day the backup does not have, are intact.
      expect(await f.store.audit.count(LOCKER, epoch)).toBeGreaterThanOrEqual(liveHigh);
      const renewal = local.map((r) => restored.store.database.prepare<[number], { type: string; data_json: string }>('SELECT type, data_json FROM audit_log WHERE seq = ?').get(r.seq)).filter((r) => r?.type === 'device.epoch-renewed');
      expect(renewal.map((r) => JSON.parse(r?.data_json ?? '{}') as Record<string, unknown>)).toEqual([expect.objectContaining({ previousEpoch: epoch, epoch: renewed })]);
    }, 60_000);
  });
}
