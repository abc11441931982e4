import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';
import { recordingLogger } from '../testing/recording-logger.js';
import { scan } from '../testing/tracking-helpers.js';
import { sql } from '../store/sql/sql-text.js';
import { normalisedHash } from './core/event-identity.js';

// The start-up refold of numbers the capital-letters migration merged (refold-pending.ts):
// each listed number is folded and taken off the list; one whose history cannot be read is
// logged and stays listed for the next start, and does not keep the others from being served.

const engines = await testEngines('refold of merged tracking numbers');
const appendRow = sql(
  `INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES (?, ?, 'in_transit', 1000, 'canonical', 'p', 1000, ?)`,
);

describe.each(engines)('refoldPending (%s)', (engine) => {
  let f: BackendFixture;
  const log = recordingLogger();
  beforeEach(async () => {
    f = await makeBackend({ engine, logger: log.logger });
  });
  afterEach(() => f.close());

  it('folds each listed number once, and leaves one whose history does not read listed, logged, for the next start', async () => {
    const good = scan('GOOD1', 'in_transit', 1_000);
    await f.store.x.run(appendRow, ['GOOD1', normalisedHash(good), JSON.stringify(good)]);
    await f.store.x.run(appendRow, ['BAD1', 'h-bad', '{"trackingNumber":"BAD1"}']);
    await f.store.x.run(sql(`INSERT INTO tracking_refold_pending (tracking_number) VALUES ('BAD1'), ('GOOD1')`));

    expect(await f.services.tracking.refoldPending()).toEqual({ refolded: 1, failed: 1 });
    const app = await f.app();
    expect((await app.inject({ method: 'GET', url: '/track/GOOD1' })).json<{ status: string }>().status).toBe('in_transit');
    expect(await f.store.tracking.pendingRefolds(undefined, 10)).toEqual(['BAD1']);
    expect(log.lines.filter((l) => l['msg'] === 'tracking.refold_failed').map((l) => l['trackingNumber'])).toEqual(['BAD1']);
    expect(log.lines.find((l) => l['msg'] === 'tracking.refolded_after_upgrade')).toMatchObject({ trackingNumber: 'GOOD1', repaired: ['projection', 'read_model'] });
    // Nothing listed twice: a second start has only the unreadable number left to try.
    expect(await f.services.tracking.refoldPending()).toEqual({ refolded: 0, failed: 1 });
  });

  it('lets the backend start when the list cannot be read: logged, nothing refolded, the numbers left for the next start', async () => {
    // An operator who dropped the list after an upgrade, or the database refusing the read
    // at start: GET /track lacks only the unfolded numbers, which is no reason to serve nothing.
    await f.store.x.run(sql(`DROP TABLE tracking_refold_pending`));
    expect(await f.services.tracking.refoldPending()).toEqual({ refolded: 0, failed: 0 });
    expect(log.lines.filter((l) => l['msg'] === 'tracking.refold_pending_aborted')).toHaveLength(1);
  });
});
