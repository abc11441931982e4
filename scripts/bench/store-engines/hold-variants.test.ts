import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PgExecutor } from '@locker/backend/store/postgres/pg-executor.js';
import { SqliteExecutor } from '@locker/backend/store/sqlite/sqlite-executor.js';
import { pgConfigIn, PG_URL, testEngines } from '@locker/backend/testing/pg-test-db.js';
import { freshPg, freshSqlite } from './bench-databases.js';
import { holdInput, NoCapacityError, type HoldInput } from './hold-schedule.js';
import { KyselyHold, kyselyOverPg, kyselyOverSqlite } from './kysely-hold.js';
import { SqlExecutorHold } from './sqlexecutor-hold.js';

// The benchmark compares two implementations of one unit of work; the comparison means
// something only if they do the same work. Each engine: the same schedule leaves the same
// rows, and a grouped unit that finds no capacity is undone alone.

const dir = mkdtempSync(join(tmpdir(), 'hold-variants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('store-engines bench variants');
const NOW = 1_800_000_000_000;

async function open(engine: 'sqlite' | 'postgres', variant: 'ours' | 'kysely'): Promise<{ hold: SqlExecutorHold | KyselyHold; rows(q: string): Promise<unknown[]>; close(): Promise<void> }> {
  if (engine === 'sqlite') {
    const f = freshSqlite(dir, `${variant}-${String(Math.random()).slice(2)}`);
    const hold = variant === 'ours' ? new SqlExecutorHold(new SqliteExecutor(f.db)) : new KyselyHold(kyselyOverSqlite(f.db), 'sqlite');
    return { hold, rows: (q) => Promise.resolve(f.db.prepare<[], unknown>(q).all()), close: async () => (await hold.close(), f.dispose()) };
  }
  const f = await freshPg();
  const pool = new pg.Pool({ ...pgConfigIn(f.schema), max: 4 });
  const hold = variant === 'ours' ? new SqlExecutorHold(new PgExecutor({ url: PG_URL, schema: f.schema, poolSize: 4 })) : new KyselyHold(kyselyOverPg(pool), 'postgres');
  const reader = new pg.Pool({ ...pgConfigIn(f.schema), max: 1 });
  return {
    hold,
    rows: async (q) => (await reader.query<Record<string, unknown>>(q)).rows,
    close: async () => {
      await hold.close();
      if (!pool.ended) await pool.end();
      await reader.end();
      await f.dispose();
    },
  };
}

const snapshot = async (rows: (q: string) => Promise<unknown[]>): Promise<unknown[]> => [
  await rows('SELECT id, locker_id, size, compartment_id, status, expires_at FROM reservations ORDER BY id'),
  await rows(`SELECT locker_id, id, reservation_id FROM compartments WHERE state = 'held' ORDER BY locker_id, id`),
  await rows(`SELECT scope, key, status_code, response_json FROM idempotency ORDER BY key`),
  await rows(`SELECT entity_id, to_state, event FROM state_log ORDER BY entity_id`),
];

describe.each(engines)('the two hold implementations on %s', (engine) => {
  it('leave the same rows for the same schedule', async () => {
    // Several holds on one locker and size (lowest free id first) and every size.
    const inputs: HoldInput[] = [0, 1, 2, 2_000, 2_001, 12_000, 12_001, 22_000, 34_000, 38_000, 1_999].map((i) => holdInput('same', i, NOW));
    const states = [];
    for (const variant of ['ours', 'kysely'] as const) {
      const o = await open(engine, variant);
      try {
        for (const u of inputs) await o.hold.hold(u);
        states.push(await snapshot(o.rows));
      } finally {
        await o.close();
      }
    }
    expect((states[0]![0] as unknown[]).length).toBe(inputs.length);
    expect(states[1]).toEqual(states[0]);
  });

  it.each(['ours', 'kysely'] as const)('%s: a grouped unit without capacity is undone alone', async (variant) => {
    const o = await open(engine, variant);
    try {
      // Locker 0 has three XL compartments; four concurrent XL holds.
      const base = holdInput('xl', 34_000, NOW);
      const units = [0, 1, 2, 3].map((n) => ({ ...base, id: `res-xl-${String(n)}`, key: `key-xl-${String(n)}` }));
      const settled = await Promise.allSettled(units.map((u) => o.hold.holdGrouped(u)));
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(3);
      const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      expect(rejected.map((s) => s.reason as unknown)).toEqual([expect.any(NoCapacityError)]);
      const [reservations, held, idempotency, log] = await snapshot(o.rows);
      expect([reservations, held, idempotency, log].map((r) => (r as unknown[]).length)).toEqual([3, 3, 3, 3]);
    } finally {
      await o.close();
    }
  });
});
