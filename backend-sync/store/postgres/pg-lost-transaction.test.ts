import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgSuitesRun } from '../../testing/pg-test-db.js';
import { openTestPgStore, type TestPgStore } from '../../testing/test-store.js';
import { isDbUnavailableError } from '../db-unavailable.js';
import { sql } from '../sql/sql-text.js';

// A statement that timed out (db.queryTimeoutMs) leaves its connection in an unknown state:
// the statement may still run and its answer still arrive. Code inside the transaction that
// catches the error and goes on (a savepoint per item: audit ingest, the tracking applier's
// per-number retry) must not get a connection whose next statements queue behind the lost
// one and whose COMMIT would then commit a savepoint that was never rolled back. A slow
// statement (pg_sleep past the timeout) stands in for a stall that ends soon after.

const run = await pgSuitesRun('a PostgreSQL transaction whose statement timed out');
const QUERY_TIMEOUT_MS = 1_000;
const rec = { requestHash: 'h', statusCode: 201, responseJson: '{}' };

describe.skipIf(!run)('a PostgreSQL transaction whose statement timed out', () => {
  let t: TestPgStore;

  beforeAll(async () => {
    t = await openTestPgStore({ queryTimeoutMs: QUERY_TIMEOUT_MS });
  });
  afterAll(() => t?.dispose());

  it('is never committed, even when the work caught the timeout and went on', async () => {
    const { store } = t;
    let caught: unknown;
    let afterMs = -1;
    const tx = store.transaction(async () => {
      await store.idempotency.put('lost-tx', 'before', rec, 1);
      try {
        await store.transaction(async () => {
          await store.idempotency.put('lost-tx', 'in-savepoint', rec, 1);
          // Answered after the timeout, within the next statement's: the session goes on.
          await store.x.one(sql('SELECT pg_sleep(1.4)'));
        });
      } catch (err) {
        caught = err;
      }
      const started = Date.now();
      try {
        await store.idempotency.put('lost-tx', 'after', rec, 1);
      } finally {
        afterMs = Date.now() - started;
      }
    });
    const err = await tx.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDbUnavailableError(caught)).toBe(true);
    expect(isDbUnavailableError(err)).toBe(true);
    // Refused at once: it does not queue behind the lost statement.
    expect(afterMs).toBeGreaterThanOrEqual(0);
    expect(afterMs).toBeLessThan(QUERY_TIMEOUT_MS / 4);
    for (const key of ['before', 'in-savepoint', 'after']) expect(await store.idempotency.get('lost-tx', key)).toBeUndefined();
  }, 30_000);

  it('serves the next transaction on a fresh connection', async () => {
    const { store } = t;
    await store.transaction(() => store.idempotency.put('lost-tx', 'next', rec, 1));
    expect(await store.idempotency.get('lost-tx', 'next')).toEqual(rec);
  });
});
