import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { CommandRecord } from '../records.js';
import { SqlCommandRepository } from '../sql/command-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';
import { claimBesideOpenClaim, twoClaimsAtOnce } from './concurrent-claims.js';

// The command repository's contract, on every engine: due commands are leased to one
// publisher at a time, recording an attempt ends the lease, a reply is taken once, and
// expired commands are neither claimed nor replied twice.

const dir = mkdtempSync(join(tmpdir(), 'command-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('command repository contract');
const T = 1_800_000_000_000;
const LEASE = 30_000;

const addLocker = sql(
  `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
   VALUES (?, 'L', 52.5, 13.4, '{}', '{}', 'operating', ?, ?)`,
);

function command(transactionId: string, over: Partial<CommandRecord> = {}): CommandRecord {
  return {
    transactionId,
    lockerId: 'lk',
    command: { kind: 'open', compartmentId: 'M01', nested: { why: ['support', 1] } },
    state: 'pending',
    attempts: 0,
    nextAttemptAt: T,
    expiresAt: T + 600_000,
    actor: 'support',
    createdAt: T,
    dbEpoch: 'epoch-1',
    ...over,
  };
}

describe.each(engines)('CommandRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlCommandRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlCommandRepository(x);
    await x.run(addLocker, ['lk', Buffer.alloc(32, 1), T]);
  });
  afterEach(() => dispose());

  it('a command round-trips with its JSON body and epoch', async () => {
    await repo.insert(command('c1'));
    const { dbEpoch: _epoch, ...withoutEpoch } = command('c2');
    await repo.insert(withoutEpoch);
    expect(await repo.get('c1')).toEqual(command('c1'));
    expect(await repo.get('c2')).toEqual(withoutEpoch);
    expect(await repo.get('nope')).toBeUndefined();
  });

  it('a corrupt command body is refused with the command named', async () => {
    await repo.insert(command('c1'));
    await x.run(sql(`UPDATE commands SET command_json = '["open"]' WHERE transaction_id = 'c1'`));
    await expect(repo.get('c1')).rejects.toMatchObject({ name: 'BackendError', code: 'INTERNAL' });
    await expect(repo.get('c1')).rejects.toThrow(/corrupt row in commands \(transactionId=c1\): command_json does not match its schema/);
    await expect(repo.claimDue(T, LEASE, 10)).rejects.toThrow(/transactionId=c1/);
  });

  it('claimDue leases due, unexpired commands soonest first and not again while leased', async () => {
    await repo.insert(command('later', { nextAttemptAt: T - 1 }));
    await repo.insert(command('sooner', { nextAttemptAt: T - 50 }));
    await repo.insert(command('not-due', { nextAttemptAt: T + 1 }));
    await repo.insert(command('expired', { nextAttemptAt: T - 100, expiresAt: T }));
    expect((await repo.claimDue(T, LEASE, 10)).map((c) => c.transactionId)).toEqual(['sooner', 'later']);
    expect((await repo.claimDue(T + 1, LEASE, 10)).map((c) => c.transactionId)).toEqual(['not-due']);
    expect(await repo.claimDue(T + LEASE - 1, LEASE, 10)).toEqual([]);
    // The publisher holding them died: when the lease lapses they are due again.
    expect((await repo.claimDue(T + LEASE, LEASE, 10)).map((c) => c.transactionId)).toEqual(['sooner', 'later']);
  });

  it('recording an attempt ends the lease: the next attempt is due at its own time', async () => {
    await repo.insert(command('c1'));
    await repo.claimDue(T, LEASE, 10);
    await repo.markAttempt('c1', 1, T + 1000);
    expect(await repo.claimDue(T + 999, LEASE, 10)).toEqual([]);
    expect(await repo.claimDue(T + 1000, LEASE, 10)).toEqual([expect.objectContaining({ transactionId: 'c1', attempts: 1, nextAttemptAt: T + 1000 })]);
  });

  it('two concurrent claimers get disjoint commands', async () => {
    for (let i = 0; i < 10; i++) await repo.insert(command(`c${String(i)}`, { nextAttemptAt: T - 100 + i }));
    const [a, b] = await twoClaimsAtOnce(x, () => repo.claimDue(T, LEASE, 4));
    expect(a).toHaveLength(4);
    expect(b).toHaveLength(4);
    expect(new Set([...a, ...b].map((c) => c.transactionId)).size).toBe(8);
  });

  it.skipIf(engine !== 'postgres')('a claim passes over commands another open claim holds instead of waiting for it', async () => {
    for (let i = 0; i < 6; i++) await repo.insert(command(`c${String(i)}`, { nextAttemptAt: T - 100 + i }));
    const { first, second, secondWaited } = await claimBesideOpenClaim(x, () => repo.claimDue(T, LEASE, 3));
    expect(secondWaited).toBe(false);
    expect(first.map((c) => c.transactionId)).toEqual(['c0', 'c1', 'c2']);
    expect(second.map((c) => c.transactionId)).toEqual(['c3', 'c4', 'c5']);
  });

  it('a reply is taken once and ends the retries', async () => {
    await repo.insert(command('c1'));
    await repo.claimDue(T, LEASE, 10);
    expect(await repo.reply('c1', { status: 'ok', result: { outcome: 'opened' } }, T + 5)).toBe(true);
    expect(await repo.reply('c1', { status: 'error' }, T + 6)).toBe(false);
    expect(await repo.reply('unknown', { status: 'ok' }, T + 6)).toBe(false);
    expect(await repo.get('c1')).toMatchObject({ state: 'replied', reply: { status: 'ok', result: { outcome: 'opened' } } });
    expect(await repo.claimDue(T + 10 * LEASE, LEASE, 10)).toEqual([]);
  });

  it('expire retires pending commands past their expiry and counts them', async () => {
    await repo.insert(command('old', { expiresAt: T }));
    await repo.insert(command('fresh', { expiresAt: T + 1 }));
    await repo.insert(command('answered', { expiresAt: T }));
    await repo.reply('answered', { status: 'ok' }, T - 1);
    expect(await repo.expire(T)).toBe(1);
    expect(await repo.expire(T)).toBe(0);
    expect((await repo.get('old'))?.state).toBe('expired');
    expect((await repo.get('answered'))?.state).toBe('replied');
  });
});
