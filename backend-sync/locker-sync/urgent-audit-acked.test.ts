import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { makeTestKeys } from '@locker/contract/test-keys.js';
import { startTestLocker, type TestLocker } from '@locker/sync-testing/test-locker.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';
import { waitFor } from '../testing/wait-for.js';
import { bridgeSubscriptions } from './locker-bridge.js';
import { MqttTransport } from './mqtt-transport.js';

// Urgent audit records (forced door, lockout…) overtake the backlog on the priority lane and
// are acknowledged out of order, each seq with its hash in the ack's seal. A seal holds only
// a dozen or so of them: with a priority upload of 100 records, the backend could not sign
// its ack, sent none, and the locker sent the urgent records again after every ack timeout
// for as long as the backlog was behind.
// The real sync agent on a real DeviceStore, the real backend (SQLite and PostgreSQL), the
// embedded broker. The agent's ack timeout is far beyond the test and its window one upload
// deep, so an upload not fully acknowledged shows as a stall (nothing else is sent), and
// every re-send shows in the agent's count of records sent.

const LOCKER = 'locker-urgent-1';
const BACKLOG = 20;
const URGENT = 100;
const engines = await testEngines('urgent audit acked');

describe.each(engines)('urgent audit records ahead of the backlog, end to end (%s)', (engine) => {
  let broker: AedesHarness;
  let f: BackendFixture;
  let transport: MqttTransport;
  let locker: TestLocker;

  beforeEach(async () => {
    broker = await AedesHarness.start();
    f = await makeBackend({ engine, clock: systemClock });
    const { provisioning } = await f.services.lockers.register(lockerInput(LOCKER, 50.1, 8.6, { M: 2 }));
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-urgent', protocolVersion: broker.protocolVersion, subscriptions: bridgeSubscriptions, logger: silentLogger(), onMessage: (t, p) => f.services.bridge.onMessage(t, p) });
    f.services.bridge.attach(transport);
    await transport.start();
    const rows = provisioning.keyring.flatMap((k) => (k.op === 'trust' && k.publicKey !== undefined ? [{ kid: k.kid, publicKey: k.publicKey, revoked: false }] : []));
    locker = startTestLocker({ broker, keys: { ...makeTestKeys(), rows }, dir: f.dir, lockerId: LOCKER, start: false, config: { audit: { pollMs: 25, ackTimeoutMs: 600_000, batchSize: 200, maxInFlight: 1 } } });
  });

  afterEach(async () => {
    await locker.close();
    await transport.stop();
    await f.services.bridge.idle();
    await f.close();
    await broker.close();
  });

  it('acknowledges 100 urgent records written behind a backlog, each sent once', async () => {
    // Written while offline: the backlog first (seqs 1..20), then the urgent records (21..120).
    locker.store.transaction(() => {
      for (let i = 1; i <= BACKLOG; i++) locker.store.appendAudit('door.closed', 'normal', { compartmentId: 'M1', openMs: i, commanded: true });
      for (let i = 0; i < URGENT; i++) locker.store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'M1' });
    });
    locker.agent.start();
    // The priority lane goes first, so every urgent record reaches the backend while the
    // backlog is still behind: only alsoSeqs can acknowledge them.
    await waitFor(() => locker.store.auditAckedWatermark() === BACKLOG + URGENT, 'every record acknowledged (no ack timeout can help: it is 10 minutes)', 20_000);
    expect(locker.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1_000 })).toEqual([]);
    expect(await f.store.audit.contiguousSeq(LOCKER, locker.store.dbEpoch)).toBe(BACKLOG + URGENT);
    // Each record went once: no upload waited out a timeout to be sent again.
    expect(locker.agent.status().auditRecordsSent).toBe(BACKLOG + URGENT);
    expect(locker.agent.status().rejections).toBe(0);
  });
});
