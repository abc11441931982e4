import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../shared/clock.js';
import { encodeMessage, newEnvelope, topicFor, type DeviceHealthWire } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { dropSchema, freshSchemaName, pgSuitesRun } from '../testing/pg-test-db.js';

// Health-alert episodes are per-locker state read and written by whichever instance the
// shared subscription hands a report to. Two instances taking reports of one locker at
// once must still raise one alert per episode (issue 9: process-local state).

const runs = await pgSuitesRun('health episodes across instances');

function report(sentAt: number): Buffer {
  const health: DeviceHealthWire = {
    compartments: [
      { id: 'M1', status: 'out-of-service', door: 'closed' },
      { id: 'M2', status: 'ok', door: 'closed' },
    ],
    lockout: { active: false, failures: 0 },
    liveCodes: 0,
    auditBacklog: 0,
    clockFloor: sentAt,
  };
  return encodeMessage('health', { ...newEnvelope('health', sentAt), bootId: 'boot-0001', health });
}

describe.skipIf(!runs)('health episodes on two instances sharing PostgreSQL', () => {
  let a: BackendFixture;
  let b: BackendFixture;
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });
  beforeEach(async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    // Real time: each instance stamps the episode with its own receipt time, as in production.
    a = await makeBackend({ engine: 'postgres', pgSchema: schema, clock: systemClock });
    b = await makeBackend({ engine: 'postgres', pgSchema: schema, dir: a.dir, clock: systemClock });
    await a.services.lockers.register(lockerInput('lk-h', 52.52, 13.405, { M: 2 }));
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  it('raises one alert for a fault episode whose reports reach both instances at the same moment', async () => {
    const topic = topicFor('lk-h', 'health');
    const t0 = 1_800_000_000_000;
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).services.bridge.onMessage(topic, report(t0 + i))));
    const alerts = (await a.store.alerts.list('lk-h')).filter((x) => x.kind === 'health.compartment-out-of-service');
    expect(alerts).toHaveLength(1);
  });
});
