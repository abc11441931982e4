import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { describePollScheduleContract } from '../../tracking/polling/poll-schedule-port.suite.js';
import { SqlPollSchedule } from '../sql/poll-schedule-repository.js';
import { twoClaimsAtOnce } from './concurrent-claims.js';

// The poll schedule's contract on every engine: the same suite the in-memory schedule runs
// (tracking/polling/poll-schedule-port.suite.ts), plus what only a shared table can show.

const dir = mkdtempSync(join(tmpdir(), 'poll-schedule-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('poll schedule contract');
const T = 1_800_000_000_000;
const LEASE = 30_000;

for (const engine of engines) {
  describePollScheduleContract(`SQL on ${engine}`, async () => {
    const { x, dispose } = await openTestExecutor(engine, dir);
    const schedule = new SqlPollSchedule(x);
    return {
      schedule,
      inspect: async (tn: string) => {
        const e = await schedule.get(tn);
        return e === undefined ? undefined : { nextPollAt: e.nextPollAt, failures: e.failures, mode: e.mode, leaseUntil: e.leaseUntil };
      },
      close: dispose,
    };
  });
}

describe.each(engines)('SQL poll schedule on %s', (engine) => {
  it('gives a due row to one of two pollers claiming at once', async () => {
    const { x, dispose } = await openTestExecutor(engine, dir);
    try {
      const schedule = new SqlPollSchedule(x);
      await schedule.noteEvent({ trackingNumber: 'A', carrier: 'ups', status: 'in_transit', eventAt: T }, T);
      const [a, b] = await twoClaimsAtOnce(x, () => schedule.claimDue(T, 10, LEASE));
      expect(a.length + b.length).toBe(1);
    } finally {
      await dispose();
    }
  });

  it('writes a batch of news for many numbers (webhook and event, new and existing rows) as noting them one by one would', async () => {
    const { x, dispose } = await openTestExecutor(engine, dir);
    try {
      const schedule = new SqlPollSchedule(x);
      await schedule.noteEvent({ trackingNumber: 'OLD', carrier: 'ups', status: 'picked_up', eventAt: T - 5_000 }, T - 1_000, T + 86_400_000);
      await schedule.noteNews([
        { trackingNumber: 'OLD', carrier: 'ups', status: 'out_for_delivery', at: T, webhookAt: T, dueByWebhook: T + 7_200_000, eventAt: T - 10, etaAt: T + 3_600_000, dueByEvent: T + 3_600_000 },
        { trackingNumber: 'NEW', carrier: 'dhl', status: 'in_transit', at: T, eventAt: T - 100, dueByEvent: T + 43_200_000 },
      ]);
      expect(await schedule.get('OLD')).toMatchObject({ status: 'out_for_delivery', lastWebhookAt: T, lastEventAt: T - 10, etaAt: T + 3_600_000, nextPollAt: T + 3_600_000, createdAt: T - 1_000, mode: 'webhook' });
      expect(await schedule.get('NEW')).toMatchObject({ carrier: 'dhl', status: 'in_transit', lastWebhookAt: null, lastEventAt: T - 100, nextPollAt: T + 43_200_000, createdAt: T, failures: 0 });
      // No dueBy: the next look stays where it was.
      await schedule.noteNews([{ trackingNumber: 'NEW', carrier: 'dhl', status: 'in_transit', at: T + 1, eventAt: T + 1 }]);
      expect(await schedule.get('NEW')).toMatchObject({ nextPollAt: T + 43_200_000, lastEventAt: T + 1 });
    } finally {
      await dispose();
    }
  });
});
