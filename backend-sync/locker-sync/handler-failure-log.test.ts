import { afterEach, describe, expect, it } from 'vitest';
import { topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { dropSchema, freshSchemaName, testEngines } from '../testing/pg-test-db.js';
import { recordingLogger } from '../testing/recording-logger.js';

// Only an unreachable database is logged once per window for the lockers' messages
// (store/postgres/pg-outage.test.ts); any other failure of a handler is a defect to see,
// and is logged at error for every message it hits, on either engine.

const engines = await testEngines('bridge handler failure log');

describe.each(engines)('a locker message whose handler fails on %s', (engine) => {
  let f: BackendFixture;
  const schema = freshSchemaName();
  afterEach(async () => {
    await f.close().catch(() => undefined);
    if (engine === 'postgres') await dropSchema(schema);
  });

  it('is logged at error for every message when the failure is not an outage', async () => {
    const rec = recordingLogger();
    f = await makeBackend(engine === 'postgres' ? { engine, pgSchema: schema, logger: rec.logger } : { engine, logger: rec.logger });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    // A store used after it was closed: a bug of ours, not the database going away.
    await f.store.close();
    for (let i = 0; i < 3; i++) await f.services.bridge.onMessage(topicFor('lk-a', 'health'), Buffer.from('{}'));
    const failed = rec.lines.filter((l) => l['msg'] === 'bridge.handler_failed');
    expect(failed).toHaveLength(3);
    expect(failed.every((l) => l['level'] === 50)).toBe(true);
  });
});
