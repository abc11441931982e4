import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { SqlAuditRepository } from '../sql/audit-repository.js';
import { SqlRefundRepository } from '../sql/ledger-repositories.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { Sql, type SqlParams, type SqlValue } from '../sql/sql-text.js';

// Reads on regular paths must find their rows through an index, not by walking a table
// that grows without bound (an order's refunds on every order view; a locker's pending
// audit records at each upload, the span an ack vouches for). The test runs each repository's own statement, catches
// it on its way to the executor, and asks the engine how it would run it. On PostgreSQL
// sequential scans are disabled for the question, so a missing index still shows as one.

const dir = mkdtempSync(join(tmpdir(), 'indexed-reads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('indexed reads');

/** The executor, and the statements (with their parameters) that `all` and `one` received. */
function recording(x: SqlExecutor): { x: SqlExecutor; seen: Array<{ q: Sql; params: SqlParams | undefined }> } {
  const seen: Array<{ q: Sql; params: SqlParams | undefined }> = [];
  const all = x.all.bind(x);
  const one = x.one.bind(x);
  const wrapped: SqlExecutor = Object.create(x) as SqlExecutor;
  wrapped.all = <R>(q: Sql, params?: SqlParams): Promise<R[]> => {
    seen.push({ q, params });
    return all<R>(q, params);
  };
  wrapped.one = <R>(q: Sql, params?: SqlParams): Promise<R | undefined> => {
    seen.push({ q, params });
    return one<R>(q, params);
  };
  return { x: wrapped, seen };
}

async function plan(x: SqlExecutor, q: Sql, params: SqlParams | undefined): Promise<string> {
  const text = q.compile(x.engine).text;
  if (x.engine === 'sqlite') {
    const rows = await x.all<{ detail: string }>(new Sql({ sqlite: `EXPLAIN QUERY PLAN ${text}`, postgres: '' }), params);
    return rows.map((r) => r.detail).join('\n');
  }
  return x.transaction(async () => {
    await x.run(new Sql({ sqlite: '', postgres: 'SET LOCAL enable_seqscan = off' }));
    // The compiled text is numbered ($1…): bind named values in the order it names them.
    const { names } = q.compile('postgres');
    const values = params === undefined || Array.isArray(params) ? params : names.map((n) => (params as Record<string, SqlValue>)[n] ?? null);
    const rows = await x.all<{ 'QUERY PLAN': string }>(new Sql({ sqlite: '', postgres: `EXPLAIN ${text}` }), values);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

describe.each(engines)('indexed reads on %s', (engine) => {
  let raw: SqlExecutor;
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    ({ x: raw, dispose } = await openTestExecutor(engine, dir));
  });
  afterEach(() => dispose());

  it("an order's refunds are read through an index on the order", async () => {
    const { x, seen } = recording(raw);
    await new SqlRefundRepository(x).byOrder('ord-1');
    const [read] = seen;
    if (read === undefined) throw new Error('byOrder ran no statement');
    const p = await plan(raw, read.q, read.params);
    if (engine === 'sqlite') expect(p).toMatch(/SEARCH refunds USING INDEX refunds_by_order \(order_id=\?\)/);
    else expect(p).toMatch(/Index (Only )?Scan (using|on) refunds_by_order/);
    expect(p).not.toMatch(/SCAN refunds$|Seq Scan on refunds/m);
  });

  it("a locker's pending audit records are read through the index of pending records", async () => {
    const { x, seen } = recording(raw);
    await new SqlAuditRepository(x).unprocessed('lk', 'epoch-1', 100, true);
    const [read] = seen;
    if (read === undefined) throw new Error('unprocessed ran no statement');
    const p = await plan(raw, read.q, read.params);
    if (engine === 'sqlite') expect(p).toMatch(/SEARCH audit_records USING INDEX audit_unprocessed \(locker_id=\? AND epoch=\?\)/);
    else expect(p).toMatch(/Index (Only )?Scan (using|on) audit_unprocessed/);
    expect(p).not.toMatch(/Seq Scan on audit_records/);
  });

  it("the records held in a span of a locker's chain are counted through the primary key", async () => {
    const { x, seen } = recording(raw);
    await new SqlAuditRepository(x).countSpan('lk', 'epoch-1', 100, 8292);
    const [read] = seen;
    if (read === undefined) throw new Error('countSpan ran no statement');
    const p = await plan(raw, read.q, read.params);
    if (engine === 'sqlite') expect(p).toMatch(/SEARCH audit_records USING (COVERING )?INDEX \S+ \(locker_id=\? AND epoch=\? AND seq>\? AND seq<\?\)/);
    else expect(p).toMatch(/Index (Only )?Scan (using|on) audit_records_pkey/);
    expect(p).not.toMatch(/Seq Scan on audit_records/);
  });
});
