import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { NotificationRecord } from '../records.js';
import { SqlNotificationRepository } from '../sql/notification-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';
import { claimBesideOpenClaim, twoClaimsAtOnce } from './concurrent-claims.js';

// The notification outbox's contract, on every engine: a transition enqueues once per
// dedupe key, due rows are leased to one dispatcher at a time, both outcomes of a send end
// the lease, and what was sent keeps only its redacted payload.

const dir = mkdtempSync(join(tmpdir(), 'outbox-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('notification repository contract');
const T = 1_800_000_000_000;
const LEASE = 30_000;

function note(id: string, over: Partial<NotificationRecord> = {}): NotificationRecord {
  return {
    id,
    dedupeKey: `parcel.ready:${id}`,
    kind: 'parcel.ready_for_pickup',
    recipient: { name: 'Ada', email: 'ada@example.org' },
    payload: { shipmentId: `s-${id}`, code: 'sealed:abc', pickupDeadline: T + 1000, flags: [true, null] },
    state: 'pending',
    attempts: 0,
    nextAttemptAt: T,
    createdAt: T,
    ...over,
  };
}

describe.each(engines)('NotificationRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlNotificationRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlNotificationRepository(x);
  });
  afterEach(() => dispose());

  it('enqueues once per dedupe key; list filters by kind in creation order', async () => {
    expect(await repo.enqueue(note('n2', { createdAt: T + 1 }))).toBe(true);
    expect(await repo.enqueue(note('n1'))).toBe(true);
    expect(await repo.enqueue(note('n3', { dedupeKey: 'parcel.ready:n1' }))).toBe(false);
    expect(await repo.enqueue(note('n4', { kind: 'refund.paid', recipient: { name: 'Bob', phone: '+4930123456' } }))).toBe(true);
    expect(await repo.list()).toEqual([note('n1'), note('n4', { kind: 'refund.paid', recipient: { name: 'Bob', phone: '+4930123456' } }), note('n2', { createdAt: T + 1 })]);
    expect((await repo.list({ kind: 'parcel.ready_for_pickup' })).map((n) => n.id)).toEqual(['n1', 'n2']);
    expect(await repo.backlog()).toBe(3);
  });

  it('a corrupt recipient is refused with the notification named, also when claimed', async () => {
    await repo.enqueue(note('n1'));
    await x.run(sql(`UPDATE notifications SET recipient_json = '{"name": 42}' WHERE id = 'n1'`));
    await expect(repo.list()).rejects.toMatchObject({ name: 'BackendError', code: 'INTERNAL' });
    await expect(repo.list()).rejects.toThrow(/corrupt row in notifications \(id=n1\): recipient_json does not match its schema \(name:/);
    await expect(repo.claimDue(T, LEASE, 10)).rejects.toThrow(/notifications \(id=n1\)/);
  });

  it('claimDue leases due rows soonest first and not again while leased; a lapsed lease makes them due again', async () => {
    await repo.enqueue(note('later', { nextAttemptAt: T - 1 }));
    await repo.enqueue(note('sooner', { nextAttemptAt: T - 50 }));
    await repo.enqueue(note('not-due', { nextAttemptAt: T + 1 }));
    expect((await repo.claimDue(T, LEASE, 10)).map((n) => n.id)).toEqual(['sooner', 'later']);
    expect((await repo.claimDue(T + 1, LEASE, 10)).map((n) => n.id)).toEqual(['not-due']);
    expect(await repo.claimDue(T + LEASE - 1, LEASE, 10)).toEqual([]);
    expect((await repo.claimDue(T + LEASE, LEASE, 1)).map((n) => n.id)).toEqual(['sooner']);
    // Leased rows are still backlog: nothing was sent.
    expect(await repo.backlog()).toBe(3);
  });

  it('two concurrent claimers get disjoint notifications', async () => {
    for (let i = 0; i < 10; i++) await repo.enqueue(note(`n${String(i)}`, { nextAttemptAt: T - 100 + i }));
    const [a, b] = await twoClaimsAtOnce(x, () => repo.claimDue(T, LEASE, 4));
    expect(a).toHaveLength(4);
    expect(b).toHaveLength(4);
    expect(new Set([...a, ...b].map((n) => n.id)).size).toBe(8);
    expect((await repo.claimDue(T, LEASE, 10)).map((n) => n.id)).toEqual(['n8', 'n9']);
  });

  it.skipIf(engine !== 'postgres')('a claim passes over notifications another open claim holds instead of waiting for it', async () => {
    for (let i = 0; i < 6; i++) await repo.enqueue(note(`n${String(i)}`, { nextAttemptAt: T - 100 + i }));
    const { first, second, secondWaited } = await claimBesideOpenClaim(x, () => repo.claimDue(T, LEASE, 3));
    expect(secondWaited).toBe(false);
    expect(first.map((n) => n.id)).toEqual(['n0', 'n1', 'n2']);
    expect(second.map((n) => n.id)).toEqual(['n3', 'n4', 'n5']);
  });

  it('a failed attempt ends the lease and reschedules; giving up takes the row out of the queue', async () => {
    await repo.enqueue(note('n1'));
    await repo.claimDue(T, LEASE, 10);
    await repo.markFailedAttempt('n1', 1, T + 1000, 'smtp down', false);
    expect(await repo.claimDue(T + 999, LEASE, 10)).toEqual([]);
    expect(await repo.claimDue(T + 1000, LEASE, 10)).toEqual([expect.objectContaining({ id: 'n1', attempts: 1, nextAttemptAt: T + 1000 })]);
    await repo.markFailedAttempt('n1', 2, T + 3000, 'smtp down', true);
    expect(await repo.claimDue(T + 10 * LEASE, LEASE, 10)).toEqual([]);
    expect((await repo.list())[0]).toMatchObject({ state: 'failed', attempts: 2 });
    expect(await repo.backlog()).toBe(0);
  });

  it('sent keeps only the redacted payload, once', async () => {
    await repo.enqueue(note('n1'));
    const [claimed] = await repo.claimDue(T, LEASE, 10);
    expect(claimed?.payload['code']).toBe('sealed:abc');
    await repo.markSent('n1', T + 5, { ...claimed?.payload, code: '[sent]' });
    await repo.markSent('n1', T + 6, { overwritten: true });
    await repo.markFailedAttempt('n1', 1, T + 7, 'late failure report', false);
    const [stored] = await repo.list();
    expect(stored).toMatchObject({ state: 'sent', attempts: 0, payload: { shipmentId: 's-n1', code: '[sent]', pickupDeadline: T + 1000, flags: [true, null] } });
    expect(await repo.claimDue(T + 10 * LEASE, LEASE, 10)).toEqual([]);
    expect(await repo.backlog()).toBe(0);
  });

  it('purges finished notifications created before the cutoff, oldest first, never a pending one', async () => {
    for (const [id, at] of [['old-sent', T], ['old-failed', T + 1], ['old-pending', T + 2], ['newer-sent', T + 3], ['new-sent', T + 10]] as const) {
      await repo.enqueue(note(id, { createdAt: at }));
    }
    await repo.claimDue(T, LEASE, 10);
    for (const id of ['old-sent', 'newer-sent', 'new-sent']) await repo.markSent(id, T + 20, { redacted: true });
    await repo.markFailedAttempt('old-failed', 8, T + 20, 'gave up', true);
    await repo.markFailedAttempt('old-pending', 1, T + 20, 'retry later', false);
    // Limit 1: the oldest finished goes first.
    expect(await repo.purgeFinished(T + 10, 1)).toBe(1);
    expect((await repo.list()).map((n) => n.id)).toEqual(['old-failed', 'old-pending', 'newer-sent', 'new-sent']);
    expect(await repo.purgeFinished(T + 10, 100)).toBe(2);
    expect((await repo.list()).map((n) => n.id)).toEqual(['old-pending', 'new-sent']);
    expect(await repo.purgeFinished(T + 10, 100)).toBe(0);
    expect(await repo.backlog()).toBe(1);
  });
});
