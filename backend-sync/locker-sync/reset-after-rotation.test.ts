import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import type { BrokerHarness } from '@locker/sync-testing/broker-harness.js';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { lockerWouldAccept } from '@locker/sync-testing/locker-token-check.js';
import { startTestLocker, type TestLocker } from '@locker/sync-testing/test-locker.js';
import { mergeKeyringRows } from '@locker/contract/tokens/bootstrap-keyring.js';
import { makeTestKeys } from '@locker/contract/test-keys.js';
import { reloadSigningKeys } from '../codes/key-reload.js';
import { systemClock } from '../shared/clock.js';
import { Keyring, decodeMessage, topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, writeKey, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';
import { waitFor } from '../testing/wait-for.js';
import { bridgeSubscriptions } from './locker-bridge.js';
import { MqttTransport } from './mqtt-transport.js';

// A locker provisioned with one key learns a rotated-in key from a code batch; then its
// database is replaced (docs/operations.md, reset): the fresh file trusts only the keys of
// its device config. The backend had recorded that the locker trusts the new key and sealed
// everything with it — the batch that would teach the locker that key included — so the
// locker refused all of it until someone reprovisioned it. Its presence now says which kids
// it trusts, and the backend seals with one of them until the keyring is back.
// Real backend (both engines), real sync agent on a real DeviceStore file, embedded broker.

const LOCKER = 'locker-test-1';
const OLD = 'k-20261101-old';
const NEW = 'k-20261201-new';
const engines = await testEngines('reset after rotation');

describe.each(engines)('a reset locker after a key rotation (%s)', (engine) => {
  let broker: BrokerHarness;
  let f: BackendFixture;
  let transport: MqttTransport;
  let lockerDir: string;
  let bootstrap: Array<{ kid: string; publicKey: string; revoked: boolean }>;
  let locker: TestLocker | undefined;
  const lockerLogs = captureLogs('info');
  const backendLogs = captureLogs('info');

  const startLocker = (): TestLocker => {
    // The device config's trustedKeys: the provisioning bundle's keyring, never updated.
    const l = startTestLocker({ broker, keys: { ...makeTestKeys(), rows: bootstrap }, dir: lockerDir, lockerId: LOCKER, logger: lockerLogs.logger });
    l.store.syncCompartmentLayout([{ id: 'M1', size: 'M' }, { id: 'M2', size: 'M' }]);
    return l;
  };
  const current = (): TestLocker => {
    if (locker === undefined) throw new Error('no locker');
    return locker;
  };
  /** What the runtime verifies with: config keys merged under the store's rows. */
  const lockerKeyring = (l: TestLocker): Keyring => Keyring.fromRows(f.ed, mergeKeyringRows(bootstrap, l.store.keyringRows()));
  const trusted = async (): Promise<string[]> => (await f.store.codeSets.get(LOCKER))?.trustedKids ?? [];

  /** What a backend subscribing now gets: the retained birth message's trustedKids. */
  const retainedPresenceKids = async (): Promise<string[] | undefined> => {
    const client = connect(broker.url, { clientId: `reader-${String(Date.now())}`, clean: true, protocolVersion: broker.protocolVersion, reconnectPeriod: 0 });
    try {
      const got = new Promise<Buffer>((resolve) => client.on('message', (_t, p) => resolve(Buffer.from(p))));
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      await client.subscribeAsync(topicFor(LOCKER, 'presence'), { qos: 1 });
      const m = decodeMessage('presence', await got);
      return m.ok && m.message.status === 'online' ? m.message.trustedKids : undefined;
    } finally {
      await client.endAsync(true);
    }
  };

  beforeEach(async () => {
    broker = await AedesHarness.start();
    f = await makeBackend({ engine, kid: OLD, clock: systemClock, logger: backendLogs.logger });
    const { provisioning } = await f.services.lockers.register(lockerInput(LOCKER, 50.1, 8.6, { M: 2 }));
    bootstrap = provisioning.keyring.flatMap((k) => (k.op === 'trust' ? [{ kid: k.kid, publicKey: k.publicKey, revoked: false }] : []));
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-test', protocolVersion: broker.protocolVersion, subscriptions: bridgeSubscriptions, logger: backendLogs.logger, onMessage: (t, p) => f.services.bridge.onMessage(t, p) });
    f.services.bridge.attach(transport);
    await transport.start();
    lockerDir = join(f.dir, 'locker');
    mkdirSync(lockerDir, { recursive: true });
    locker = startLocker();
    await waitFor(async () => (await f.services.lockers.get(LOCKER)).online, 'locker online');
  });

  afterEach(async () => {
    await locker?.close();
    locker = undefined;
    await transport.stop();
    await f.services.bridge.idle();
    await f.close();
    await broker.close();
  });

  it('applies a batch and verifies a token signed after the rotation once its database was replaced', async () => {
    // Rotation: a new key in the directory, reloaded; the locker learns it and acknowledges.
    writeKey(f.ed, join(f.dir, 'keys'), NEW);
    expect((await reloadSigningKeys({ store: f.store, keys: f.services.keys, codeSets: f.services.codeSets, logger: backendLogs.logger })).activeKid).toBe(NEW);
    const before = current();
    await waitFor(() => before.store.keyringRows().some((r) => r.kid === NEW), 'locker learnt the new key');
    await waitFor(async () => (await trusted()).includes(NEW), 'backend knows the locker trusts the new key');

    // Nothing left in flight for the old database (an ack queued in the broker session would
    // reach the fresh one, sealed with the new key, and be refused: genuine but stale).
    await waitFor(() => before.store.auditHighWatermark() > 0 && before.store.auditAckedWatermark() === before.store.auditHighWatermark(), 'old database acknowledged');

    // The reset: stop, move the database aside, start fresh with the config's keys only.
    const oldEpoch = before.store.dbEpoch;
    await before.close();
    locker = undefined;
    for (const suffix of ['', '-wal', '-shm']) {
      const file = join(lockerDir, `device.sqlite${suffix}`);
      if (existsSync(file)) renameSync(file, `${file}.moved-aside`);
    }
    const after = startLocker();
    locker = after;
    expect(after.store.dbEpoch).not.toBe(oldEpoch);
    expect(lockerKeyring(after).lookup(NEW, Date.now()).status).toBe('unknown');
    await waitFor(async () => (await f.store.audit.currentEpoch(LOCKER)) === after.store.dbEpoch, 'backend learnt the new epoch');

    // A parcel shipped after the rotation: its token is signed by the new key.
    const order = await paidOrder(f, 'ord-after-reset', [{ lineId: 'l1', size: 'M' }]);
    const shipment = await ship(f, order.id, ['l1'], LOCKER, 'M', 'TRK-RESET');
    const tokenId = (await f.store.shipments.get(shipment.id))!.pickupTokenId!;
    await waitFor(() => after.store.findEntryByTokenId(tokenId) !== undefined, 'fresh database applied the batch with the parcel', 15_000);
    await waitFor(() => after.store.keyringRows().some((r) => r.kid === NEW && !r.revoked), 'fresh database learnt the new key again');
    const entry = after.store.findEntryByTokenId(tokenId)!;
    const verified = lockerWouldAccept({ token: entry.token, lockerId: LOCKER, now: Date.now(), purposes: ['pickup'] }, lockerKeyring(after), f.ed);
    expect(verified).toMatchObject({ ok: true });
    expect(verified.ok && verified.kid).toBe(NEW);

    // After the keyring's ack the backend seals with the active key again.
    await waitFor(async () => (await trusted()).includes(NEW), 'backend knows the fresh database trusts the new key');
    expect(lockerLogs.find('message.rejected').filter((l) => l['reason'] === 'key-unknown')).toEqual([]);
    // The retained presence names the kids it trusts now: a backend restarting later reads it.
    await waitFor(async () => (await retainedPresenceKids())?.includes(NEW) === true, 'retained presence names the new key');
  }, 60_000);
});
