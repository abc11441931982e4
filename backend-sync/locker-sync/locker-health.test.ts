import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeMessage, newEnvelope, topicFor, type DeviceHealthWire } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';

// Health reports through the bridge (encoded with the contract, validated on the way in),
// stored (SQLite, and PostgreSQL where the test server runs), shown over HTTP, and turned
// into one alert per fault episode.

const engines = await testEngines('locker health');

type Status = 'ok' | 'occupied' | 'out-of-service';

function report(sentAt: number, m1: Status, lockout = false, bootId = 'boot-0001', storage?: DeviceHealthWire['storage']): Buffer {
  const health: DeviceHealthWire = {
    ...(storage === undefined ? {} : { storage }),
    compartments: [
      { id: 'M1', status: m1, door: 'closed' },
      { id: 'M2', status: 'ok', door: 'closed' },
    ],
    lockout: { active: lockout, failures: lockout ? 5 : 0, ...(lockout ? { until: sentAt + 60_000 } : {}) },
    liveCodes: 3,
    auditBacklog: 1,
    clockFloor: Math.max(0, sentAt - 1_000),
  };
  return encodeMessage('health', { ...newEnvelope('health', sentAt), bootId, health });
}

describe.each(engines)('locker health on %s', (engine) => {
  let f: BackendFixture;
  const send = (payload: Buffer): Promise<void> => f.services.bridge.onMessage(topicFor('lk-a', 'health'), payload);
  const alertsOf = async (kind: string) => (await f.store.alerts.list('lk-a')).filter((a) => a.kind === kind);
  const health = async () => (await f.services.lockers.get('lk-a')).health;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  it('keeps the latest report per locker and shows it in the locker detail over HTTP', async () => {
    await send(report(1_000, 'ok'));
    await send(report(3_000, 'occupied'));
    await send(report(2_000, 'ok')); // older, arrived late: ignored
    const app = await f.app();
    const res = await app.inject({ method: 'GET', url: '/lockers/lk-a' });
    expect(res.statusCode).toBe(200);
    const health = res.json<{ health: { sentAt: number; bootId: string; receivedAt: number; report: DeviceHealthWire } }>().health;
    expect(health).toMatchObject({ sentAt: 3_000, bootId: 'boot-0001', receivedAt: f.clock.now() });
    expect(health.report.compartments[0]).toEqual({ id: 'M1', status: 'occupied', door: 'closed' });
    expect(health.report.liveCodes).toBe(3);
  });

  it('keeps taking reports after the locker\'s clock stepped back within one boot', async () => {
    // Its wall clock ran a day ahead until a backend-signed time corrected it: the reports
    // after the correction carry earlier sentAt values, but they are the newer reports.
    const ahead = 1_000 + 24 * 3_600_000;
    await send(report(ahead, 'out-of-service'));
    f.clock.advance(60_000);
    await send(report(61_000, 'ok'));
    expect((await health())?.sentAt).toBe(61_000);
    expect((await health())?.report.compartments[0]?.status).toBe('ok');
    expect((await health())?.outOfServiceSince).toEqual({});
    f.clock.advance(60_000);
    await send(report(121_000, 'occupied'));
    expect((await health())?.report.compartments[0]?.status).toBe('occupied');
    // A report sent before that one and handled right after it (two instances) is still old.
    await send(report(120_500, 'ok'));
    expect((await health())?.report.compartments[0]?.status).toBe('occupied');
  });

  it('raises one alert per out-of-service episode, and a new one when the compartment fails again', async () => {
    await send(report(1_000, 'out-of-service'));
    f.clock.advance(60_000);
    await send(report(2_000, 'out-of-service'));
    expect(await alertsOf('health.compartment-out-of-service')).toHaveLength(1);
    expect((await alertsOf('health.compartment-out-of-service'))[0]?.details).toMatchObject({ compartmentId: 'M1' });
    expect((await health())?.outOfServiceSince).toEqual({ M1: f.clock.now() - 60_000 });
    f.clock.advance(60_000);
    await send(report(3_000, 'ok'));
    expect((await health())?.outOfServiceSince).toEqual({});
    f.clock.advance(60_000);
    await send(report(4_000, 'out-of-service'));
    expect(await alertsOf('health.compartment-out-of-service')).toHaveLength(2);
  });

  it('raises one alert per keypad lockout episode, across a repeated report and a new boot', async () => {
    await send(report(1_000, 'ok', true));
    await send(report(1_000, 'ok', true)); // duplicate delivery
    f.clock.advance(1_000);
    await send(report(500, 'ok', true, 'boot-0002')); // rebooted with its clock behind: still the same lockout
    expect(await alertsOf('health.keypad-lockout')).toHaveLength(1);
    expect((await alertsOf('health.keypad-lockout'))[0]?.details).toMatchObject({ failures: 5 });
    f.clock.advance(1_000);
    await send(report(600, 'ok', false, 'boot-0002'));
    f.clock.advance(1_000);
    await send(report(700, 'ok', true, 'boot-0002'));
    expect(await alertsOf('health.keypad-lockout')).toHaveLength(2);
  });

  it('raises one alert per episode of a database the locker cannot write (it opens no door), and shows since when', async () => {
    await send(report(1_000, 'ok', false, 'boot-0001', { writable: true, writeFailures: 0 }));
    expect(await alertsOf('health.storage-unwritable')).toHaveLength(0);
    f.clock.advance(60_000);
    await send(report(61_000, 'ok', false, 'boot-0001', { writable: false, writeFailures: 3 }));
    const began = f.clock.now();
    f.clock.advance(60_000);
    await send(report(121_000, 'ok', false, 'boot-0001', { writable: false, writeFailures: 9 }));
    expect(await alertsOf('health.storage-unwritable')).toHaveLength(1);
    expect((await alertsOf('health.storage-unwritable'))[0]?.details).toMatchObject({ writeFailures: 3 });
    expect((await health())?.storageUnwritableSince).toBe(began);
    f.clock.advance(60_000);
    await send(report(181_000, 'ok', false, 'boot-0001', { writable: true, writeFailures: 9 }));
    expect((await health())?.storageUnwritableSince).toBeUndefined();
    f.clock.advance(60_000);
    await send(report(241_000, 'ok', false, 'boot-0001', { writable: false, writeFailures: 10 }));
    expect(await alertsOf('health.storage-unwritable')).toHaveLength(2);
  });

  it('raises one alert per episode of a released storage reserve (card nearly full, locker still working), and shows since when', async () => {
    await send(report(1_000, 'ok', false, 'boot-0001', { writable: true, writeFailures: 0, reserveReleased: false }));
    expect(await alertsOf('health.storage-reserve-released')).toHaveLength(0);
    f.clock.advance(60_000);
    await send(report(61_000, 'ok', false, 'boot-0001', { writable: true, writeFailures: 1, reserveReleased: true }));
    const began = f.clock.now();
    f.clock.advance(60_000);
    // A restart on the still-full card: same episode.
    await send(report(500, 'ok', false, 'boot-0002', { writable: true, writeFailures: 0, reserveReleased: true }));
    expect(await alertsOf('health.storage-reserve-released')).toHaveLength(1);
    expect((await alertsOf('health.storage-reserve-released'))[0]?.details).toMatchObject({ writable: true, writeFailures: 1 });
    expect(await alertsOf('health.storage-unwritable')).toHaveLength(0);
    const res = await (await f.app()).inject({ method: 'GET', url: '/lockers/lk-a' });
    expect(res.json<{ health: { storageReserveReleasedSince?: number; report: DeviceHealthWire } }>().health).toMatchObject({ storageReserveReleasedSince: began, report: { storage: { reserveReleased: true } } });
    f.clock.advance(60_000);
    await send(report(60_500, 'ok', false, 'boot-0002', { writable: true, writeFailures: 0, reserveReleased: false }));
    expect((await health())?.storageReserveReleasedSince).toBeUndefined();
    // A locker without a reserve (an older one) reports no field and raises nothing.
    f.clock.advance(60_000);
    await send(report(120_500, 'ok', false, 'boot-0002', { writable: true, writeFailures: 0 }));
    expect(await alertsOf('health.storage-reserve-released')).toHaveLength(1);
  });

  it('rejects a health message that breaks the contract schema and stores nothing', async () => {
    const bad = Buffer.from(JSON.stringify({ ...newEnvelope('health', 1_000), bootId: 'boot-0001', health: { compartments: 'all fine' } }));
    await send(bad);
    expect(await f.store.lockerHealth.get('lk-a')).toBeUndefined();
    expect([...f.services.bridge.rejections().values()].reduce((a, b) => a + b, 0)).toBe(1);
    expect(await health()).toBeUndefined();
  });
});
