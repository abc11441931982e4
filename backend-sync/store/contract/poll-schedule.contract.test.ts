import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { SqlPollSchedule } from '../sql/poll-schedule-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { twoClaimsAtOnce } from './concurrent-claims.js';

// The poll schedule's contract, on every engine: due rows are leased to one poller, a lapsed
// lease makes a row due again, rescheduling ends the lease, and times only move forward.

const dir = mkdtempSync(join(tmpdir(), 'poll-schedule-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('poll schedule contract');
const T = 1_800_000_000_000;
const LEASE = 30_000;

describe.each(engines)('PollSchedule on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let schedule: SqlPollSchedule;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    schedule = new SqlPollSchedule(x);
  });
  afterEach(() => dispose());

  it('adds a number once and keeps the existing schedule', async () => {
    expect(await schedule.ensure({ trackingNumber: 'A', carrier: 'ups', nextPollAt: T })).toBe(true);
    expect(await schedule.ensure({ trackingNumber: 'A', carrier: 'ups', nextPollAt: T + 99 })).toBe(false);
    expect(await schedule.get('A')).toEqual({ trackingNumber: 'A', carrier: 'ups', lastEventAt: undefined, lastWebhookAt: undefined, nextPollAt: T, failures: 0 });
  });

  it('leases due rows earliest first, skips leased ones, and offers them again when the lease lapses', async () => {
    await schedule.ensure({ trackingNumber: 'B', carrier: 'ups', nextPollAt: T + 2 });
    await schedule.ensure({ trackingNumber: 'A', carrier: 'ups', nextPollAt: T + 1 });
    await schedule.ensure({ trackingNumber: 'C', carrier: 'dhl', nextPollAt: T + 10_000 });
    expect((await schedule.claimDue(T + 5, 10, LEASE)).map((e) => e.trackingNumber)).toEqual(['A', 'B']);
    expect(await schedule.claimDue(T + 6, 10, LEASE)).toEqual([]);
    expect((await schedule.claimDue(T + 5 + LEASE, 1, LEASE)).map((e) => e.trackingNumber)).toEqual(['A']);
  });

  it('reschedules: ends the lease, counts failures, and never moves the last event back', async () => {
    await schedule.ensure({ trackingNumber: 'A', carrier: 'ups', nextPollAt: T });
    await schedule.claimDue(T, 10, LEASE);
    expect(await schedule.reschedule('A', { nextPollAt: T + 100, failures: 2, lastEventAt: T - 50 })).toBe(true);
    expect(await schedule.reschedule('A', { nextPollAt: T + 100, failures: 2, lastEventAt: T - 500 })).toBe(true);
    expect(await schedule.get('A')).toMatchObject({ nextPollAt: T + 100, failures: 2, lastEventAt: T - 50 });
    expect((await schedule.claimDue(T + 100, 10, LEASE)).map((e) => e.trackingNumber)).toEqual(['A']);
    expect(await schedule.reschedule('nope', { nextPollAt: T, failures: 0 })).toBe(false);
  });

  it('notes webhooks without moving back, and removes a number', async () => {
    await schedule.ensure({ trackingNumber: 'A', carrier: 'ups', nextPollAt: T });
    await schedule.noteWebhook('A', T + 10);
    await schedule.noteWebhook('A', T + 5);
    expect((await schedule.get('A'))?.lastWebhookAt).toBe(T + 10);
    expect(await schedule.remove('A')).toBe(true);
    expect(await schedule.get('A')).toBeUndefined();
  });

  it('gives a due row to one of two pollers claiming at once', async () => {
    await schedule.ensure({ trackingNumber: 'A', carrier: 'ups', nextPollAt: T });
    const [a, b] = await twoClaimsAtOnce(x, () => schedule.claimDue(T, 10, LEASE));
    expect(a.length + b.length).toBe(1);
  });
});
