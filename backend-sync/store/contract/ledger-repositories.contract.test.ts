import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { RefundRecord } from '../records.js';
import { claimBesideOpenClaim, twoClaimsAtOnce } from './concurrent-claims.js';
import { SqlIdempotencyRepository, SqlRefundRepository, SqlStateLogRepository } from '../sql/ledger-repositories.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';

// The ledger repositories' contract, on every engine: an idempotency key is stored once,
// the state log keeps append order and refuses changes, and pending refunds are leased to
// one claimer at a time, with a lapsed lease making them due again.

const dir = mkdtempSync(join(tmpdir(), 'ledger-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('ledger repositories contract');
const T = 1_800_000_000_000;
const LEASE = 30_000;

const addOrder = sql(
  `INSERT INTO orders (id, state, customer_json, total_cents, currency, version, created_at, updated_at) VALUES (?, 'cancelled', '{"name":"Ada"}', 5000, 'EUR', 1, ?, ?)`,
);

function refund(id: string, createdAt: number): RefundRecord {
  return { id, orderId: 'o1', amountCents: 100, state: 'pending', reason: 'cancelled: test', createdAt };
}

describe.each(engines)('ledger repositories on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    await x.run(addOrder, ['o1', T, T]);
  });
  afterEach(() => dispose());

  it('an idempotency key is stored once; the first response is the one kept, verbatim', async () => {
    const repo = new SqlIdempotencyRepository(x);
    const first = { requestHash: 'h1', statusCode: 201, responseJson: '{"id":"r1","n":1.50}' };
    expect(await repo.put('order', 'k', first, T)).toBe(true);
    expect(await repo.put('order', 'k', { requestHash: 'h2', statusCode: 200, responseJson: '{}' }, T + 1)).toBe(false);
    expect(await repo.get('order', 'k')).toEqual(first);
    expect(await repo.get('reservation', 'k')).toBeUndefined();
    expect(await repo.put('reservation', 'k', first, T)).toBe(true);
  });

  it('purge deletes records created before the cutoff, oldest first, at most `limit` a call', async () => {
    const repo = new SqlIdempotencyRepository(x);
    const rec = { requestHash: 'h', statusCode: 201, responseJson: '{}' };
    // Inserted out of age order: the purge goes by creation time, not by insertion.
    for (const [key, at] of [['k3', T + 3], ['k1', T + 1], ['k5', T + 5], ['k2', T + 2], ['k4', T + 4]] as const) await repo.put('order', key, rec, at);
    expect(await repo.purge(T + 4, 2)).toBe(2);
    expect(await repo.get('order', 'k1')).toBeUndefined();
    expect(await repo.get('order', 'k2')).toBeUndefined();
    expect(await repo.get('order', 'k3')).toEqual(rec);
    expect(await repo.purge(T + 4, 10)).toBe(1);
    expect(await repo.purge(T + 4, 10)).toBe(0);
    expect(await repo.get('order', 'k4')).toEqual(rec);
    expect(await repo.get('order', 'k5')).toEqual(rec);
    // A purged key can be used again.
    expect(await repo.put('order', 'k1', rec, T + 6)).toBe(true);
  });

  it('the state log lists an entity’s entries in append order and refuses to be rewritten', async () => {
    const log = new SqlStateLogRepository(x);
    await log.append({ entity: 'order', entityId: 'o1', to: 'placed', event: 'place', actor: 'api', at: T });
    await log.append({ entity: 'order', entityId: 'o2', to: 'placed', event: 'place', actor: 'api', at: T });
    await log.append({ entity: 'order', entityId: 'o1', from: 'placed', to: 'cancelled', event: 'cancel', actor: 'support', reason: 'asked', at: T });
    await log.append({ entity: 'shipment', entityId: 'o1', to: 'created', event: 'create', actor: 'api', at: T });
    expect(await log.list('order', 'o1')).toEqual([
      { entity: 'order', entityId: 'o1', to: 'placed', event: 'place', actor: 'api', at: T },
      { entity: 'order', entityId: 'o1', from: 'placed', to: 'cancelled', event: 'cancel', actor: 'support', reason: 'asked', at: T },
    ]);
    await expect(x.run(sql(`UPDATE state_log SET actor = 'forged'`))).rejects.toThrow(/append-only/);
    await expect(x.run(sql('DELETE FROM state_log'))).rejects.toThrow(/append-only/);
  });

  it('claimPending leases pending refunds oldest first; a leased refund is not claimed again while the lease lasts', async () => {
    const repo = new SqlRefundRepository(x);
    for (let i = 0; i < 4; i++) await repo.insert(refund(`r${String(i)}`, T - 10 + (3 - i)));
    expect((await repo.claimPending(T, LEASE, 3)).map((r) => r.id)).toEqual(['r3', 'r2', 'r1']);
    expect((await repo.claimPending(T + LEASE - 1, LEASE, 10)).map((r) => r.id)).toEqual(['r0']);
    expect(await repo.claimPending(T + LEASE - 1, LEASE, 10)).toEqual([]);
    // The instance holding r3..r1 died: at the end of its lease they are due again.
    expect((await repo.claimPending(T + LEASE, LEASE, 10)).map((r) => r.id)).toEqual(['r3', 'r2', 'r1']);
  });

  it('two concurrent claimers get disjoint refunds', async () => {
    const repo = new SqlRefundRepository(x);
    for (let i = 0; i < 10; i++) await repo.insert(refund(`r${String(i)}`, T - 100 + i));
    const [a, b] = await twoClaimsAtOnce(x, () => repo.claimPending(T, LEASE, 4));
    expect(a).toHaveLength(4);
    expect(b).toHaveLength(4);
    expect(new Set([...a, ...b].map((r) => r.id)).size).toBe(8);
    expect((await repo.claimPending(T, LEASE, 10)).map((r) => r.id)).toEqual(['r8', 'r9']);
  });

  it.skipIf(engine !== 'postgres')('a claim passes over refunds another open claim holds instead of waiting for it', async () => {
    const repo = new SqlRefundRepository(x);
    for (let i = 0; i < 6; i++) await repo.insert(refund(`r${String(i)}`, T - 100 + i));
    const { first, second, secondWaited } = await claimBesideOpenClaim(x, () => repo.claimPending(T, LEASE, 3));
    expect(secondWaited).toBe(false);
    expect(first.map((r) => r.id)).toEqual(['r0', 'r1', 'r2']);
    expect(second.map((r) => r.id)).toEqual(['r3', 'r4', 'r5']);
  });

  it('settle happens once; a settled refund is never claimed again', async () => {
    const repo = new SqlRefundRepository(x);
    await repo.insert(refund('r1', T));
    await repo.insert(refund('r2', T + 1));
    await repo.claimPending(T, LEASE, 10);
    expect(await repo.settle('r1', 0, { state: 'succeeded', providerRef: 'prov-1' }, T + 5)).toBe(true);
    expect(await repo.settle('r1', 0, { state: 'failed', error: 'declined' }, T + 6)).toBe(false);
    expect(await repo.settle('r2', 0, { state: 'failed', error: 'declined' }, T + 6)).toBe(true);
    expect(await repo.byOrder('o1')).toEqual([
      { ...refund('r1', T), state: 'succeeded', providerRef: 'prov-1' },
      { ...refund('r2', T + 1), state: 'failed', lastError: 'declined' },
    ]);
    expect(await repo.claimPending(T + 10 * LEASE, LEASE, 10)).toEqual([]);
  });

  it('a failed refund is retried once per decline, and an answer under an older retry settles nothing', async () => {
    const repo = new SqlRefundRepository(x);
    await repo.insert(refund('r1', T));
    await repo.claimPending(T, LEASE, 10);
    expect(await repo.settle('r1', 0, { state: 'failed', error: 'declined' }, T + 1)).toBe(true);
    expect((await repo.page({ state: 'failed', limit: 10 })).map((r) => r.id)).toEqual(['r1']);
    expect(await repo.countFailed()).toBe(1);
    // Two operators retry the same decline: one retry.
    expect([await repo.retry('r1', 0, T + 2), await repo.retry('r1', 0, T + 2)]).toEqual([true, false]);
    // A call under the declined key that outlived its lease answers late: it settles nothing.
    expect(await repo.settle('r1', 0, { state: 'failed', error: 'declined' }, T + 3)).toBe(false);
    const [claimed] = await repo.claimPending(T + 3, LEASE, 10);
    expect(claimed).toMatchObject({ id: 'r1', state: 'pending', retries: 1 });
    // No answer: not claimed again before `until`, then claimed with the count of lost answers.
    expect(await repo.defer('r1', 1, T + 10 * LEASE, 'socket hang up', T + 4)).toBe(true);
    expect(await repo.claimPending(T + 5 * LEASE, LEASE, 10)).toEqual([]);
    expect(await repo.claimPending(T + 10 * LEASE, LEASE, 10)).toEqual([{ ...refund('r1', T), retries: 1, unanswered: 1, lastError: 'socket hang up' }]);
    expect(await repo.settle('r1', 1, { state: 'succeeded', providerRef: 'prov-1' }, T + 11 * LEASE)).toBe(true);
    expect({ failed: await repo.page({ state: 'failed', limit: 10 }), count: await repo.countFailed(), r1: await repo.get('r1') }).toEqual({
      failed: [],
      count: 0,
      r1: { ...refund('r1', T), state: 'succeeded', providerRef: 'prov-1', retries: 1 },
    });
  });

  it('pages the failed refunds oldest first after a (createdAt, id) cursor', async () => {
    const repo = new SqlRefundRepository(x);
    for (const [id, at] of [['r1', T], ['r2', T], ['r3', T + 1], ['r4', T + 2]] as const) {
      await repo.insert(refund(id, at));
      await repo.claimPending(at, LEASE, 10);
      await repo.settle(id, 0, { state: 'failed', error: 'declined' }, at);
    }
    expect((await repo.page({ state: 'failed', limit: 2 })).map((r) => r.id)).toEqual(['r1', 'r2']);
    expect((await repo.page({ state: 'failed', after: { createdAt: T, id: 'r2' }, limit: 2 })).map((r) => r.id)).toEqual(['r3', 'r4']);
    expect(await repo.page({ state: 'pending', limit: 2 })).toEqual([]);
  });
});
