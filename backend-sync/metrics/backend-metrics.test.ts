import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import { encodeMessage, newEnvelope, topicFor, type DeviceHealthWire } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

// GET /metrics through the real app, over a real SQLite store fed through the real bridge.

const admin = 'admin-key-0123456789abcdef';
const merchant = 'merchant-key-0123456789abcdef';

function health(sentAt: number): Buffer {
  const report: DeviceHealthWire = {
    compartments: [
      { id: 'M1', status: 'out-of-service', door: 'closed' },
      { id: 'M2', status: 'ok', door: 'unknown' },
      { id: 'M3', status: 'occupied', door: 'closed' },
    ],
    lockout: { active: true, failures: 7, until: sentAt + 60_000 },
    liveCodes: 12,
    auditBacklog: 345,
    clockFloor: sentAt - 1_000,
    codeSetVersion: 2,
    awaitingDeposit: 5,
    rejectedMessages: { 'invalid-json': 3, 'bad-signature': 1 },
    rejectionAuditsSuppressed: 4,
    lockouts: 2,
    doorFailures: { jammed: 6, 'relay-fault': 0, 'sensor-unknown': 1 },
  };
  return encodeMessage('health', { ...newEnvelope('health', sentAt), bootId: 'boot-0001', health: report });
}

const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('Prometheus metrics', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ config: { auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: apiKeyDigest(admin) }, { id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(merchant) }] } } });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 3 }));
    await f.services.lockers.register(lockerInput('lk-b', 52.53, 13.405, { M: 1 }));
  });
  afterEach(() => f.close());

  it('shows what each locker reported, the code-set lag, the notification backlog and rejected messages', async () => {
    await f.services.bridge.onMessage(topicFor('lk-a', 'health'), health(f.clock.now()));
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), Buffer.from('{not json'));
    await f.services.bridge.onMessage(topicFor('lk-zz', 'presence'), Buffer.from('{}'));
    for (const i of [1, 2]) {
      await f.store.notifications.enqueue({ id: `n${String(i)}`, dedupeKey: `k${String(i)}`, kind: 'parcel.available', recipient: { name: 'A' }, payload: {}, state: 'pending', attempts: 0, nextAttemptAt: f.clock.now() + 60_000, createdAt: f.clock.now() });
    }
    await f.store.codeSets.ensure('lk-b');
    await f.store.codeSets.setVersion('lk-b', 4, 'd'.repeat(64));
    await f.store.codeSets.setAcked('lk-b', 1, 'a'.repeat(64), f.clock.now());
    const app = await f.app();
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${admin}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(value(text, 'locker_audit_outbox_backlog{locker="lk-a"}')).toBe(345);
    expect(value(text, 'locker_lockout_active{locker="lk-a"}')).toBe(1);
    expect(value(text, 'locker_lockout_failures{locker="lk-a"}')).toBe(7);
    expect(value(text, 'locker_door_faults{locker="lk-a"}')).toBe(2);
    expect(value(text, 'locker_live_codes{locker="lk-a"}')).toBe(12);
    expect(value(text, 'locker_code_set_lag_versions{locker="lk-b"}')).toBe(3);
    expect(value(text, 'locker_lockers{presence="offline"}')).toBe(2);
    expect(value(text, 'backend_notification_backlog')).toBe(2);
    expect(value(text, 'backend_mqtt_messages_rejected_total{reason="unknown-locker"}')).toBe(1);
    expect(text).toMatch(/backend_mqtt_messages_rejected_total\{reason="[a-z-]+"\} 1/);
    expect(text).toContain('backend_process_resident_memory_bytes');
  });

  it('shows the figures the locker reported about itself: code-set version, awaiting deposit, its rejections, lockouts, door failures', async () => {
    await f.services.bridge.onMessage(topicFor('lk-a', 'health'), health(f.clock.now()));
    await f.store.codeSets.ensure('lk-a');
    await f.store.codeSets.setVersion('lk-a', 5, 'd'.repeat(64));
    const app = await f.app();
    const text = (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${admin}` } })).body;
    expect(value(text, 'locker_code_set_version_reported{locker="lk-a"}')).toBe(2);
    expect(value(text, 'locker_code_set_version_latest{locker="lk-a"}')).toBe(5);
    expect(value(text, 'locker_codes_awaiting_deposit{locker="lk-a"}')).toBe(5);
    expect(value(text, 'locker_rejected_messages{locker="lk-a",reason="invalid-json"}')).toBe(3);
    expect(value(text, 'locker_rejected_messages{locker="lk-a",reason="bad-signature"}')).toBe(1);
    expect(value(text, 'locker_rejection_audits_suppressed{locker="lk-a"}')).toBe(4);
    expect(value(text, 'locker_lockouts{locker="lk-a"}')).toBe(2);
    expect(value(text, 'locker_door_failures{locker="lk-a",reason="jammed"}')).toBe(6);
    expect(value(text, 'locker_door_failures{locker="lk-a",reason="relay-fault"}')).toBe(0);
    expect(value(text, 'locker_door_failures{locker="lk-a",reason="sensor-unknown"}')).toBe(1);
  });

  it('leaves out the figures an older locker does not report, rather than showing 0', async () => {
    const old: DeviceHealthWire = { compartments: [], lockout: { active: false, failures: 0 }, liveCodes: 1, auditBacklog: 0, clockFloor: f.clock.now() };
    await f.services.bridge.onMessage(topicFor('lk-b', 'health'), encodeMessage('health', { ...newEnvelope('health', f.clock.now()), bootId: 'boot-0002', health: old }));
    const app = await f.app();
    const text = (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${admin}` } })).body;
    expect(value(text, 'locker_live_codes{locker="lk-b"}')).toBe(1);
    for (const series of ['locker_code_set_version_reported', 'locker_codes_awaiting_deposit', 'locker_lockouts', 'locker_rejection_audits_suppressed']) {
      expect(value(text, `${series}{locker="lk-b"}`), series).toBeUndefined();
    }
    expect(text).not.toMatch(/locker_(rejected_messages|door_failures)\{locker="lk-b"/);
  });

  it('counts a rejection once however often it is scraped', async () => {
    await f.services.bridge.onMessage(topicFor('lk-zz', 'presence'), Buffer.from('{}'));
    const app = await f.app();
    const scrape = async (): Promise<string> => (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${admin}` } })).body;
    await scrape();
    await f.services.bridge.onMessage(topicFor('lk-zz', 'presence'), Buffer.from('{}'));
    expect(value(await scrape(), 'backend_mqtt_messages_rejected_total{reason="unknown-locker"}')).toBe(2);
  });

  it('hands the event loop back while it reads and writes a large fleet, and still reports every locker', async () => {
    // 1,200 lockers: three pages of health reports and three chunks of each per-locker family.
    const sentAt = f.clock.now();
    await f.store.transaction(async () => {
      for (let i = 0; i < 1_200; i++) {
        const id = `fleet-${String(i).padStart(4, '0')}`;
        await f.services.lockers.register(lockerInput(id, 52.5 + i / 10_000, 13.4, { M: 1 }));
        await f.store.lockerHealth.put({
          lockerId: id,
          bootId: 'boot-0001',
          sentAt,
          receivedAt: sentAt,
          health: { compartments: [], lockout: { active: false, failures: 0 }, liveCodes: i, auditBacklog: 0, clockFloor: sentAt },
          episodes: { outOfService: {} },
        });
      }
    });
    let turns = 0;
    let counting = true;
    const turn = (): void => {
      turns++;
      if (counting) setImmediate(turn);
    };
    setImmediate(turn);
    const text = await f.services.metrics.render();
    counting = false;
    // Before, a scrape ran start to end without one turn of the event loop (every API request
    // waited behind it: 1.1–1.3 s at 10,000 lockers).
    expect(turns).toBeGreaterThanOrEqual(6);
    expect(value(text, 'locker_live_codes{locker="fleet-0000"}')).toBe(0);
    expect(value(text, 'locker_live_codes{locker="fleet-1199"}')).toBe(1_199);
    expect(text.split('\n').filter((l) => l.startsWith('locker_live_codes{'))).toHaveLength(1_200);
    expect(value(text, 'locker_lockers{presence="offline"}')).toBe(1_202);
  });

  it('is for operators only', async () => {
    const app = await f.app();
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${merchant}` } })).statusCode).toBe(403);
  });
});
