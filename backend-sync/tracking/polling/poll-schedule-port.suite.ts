import { describe, expect, it } from 'vitest';
import type { PollSchedulePort } from './poll-schedule-port.js';

// What any PollSchedulePort must do, as one suite: the in-memory schedule runs it
// (in-memory-poll-schedule.test.ts); the SQL one (tracking_poll_schedule) runs it on both
// engines (store/contract/poll-schedule.contract.test.ts), each case on a fresh store. `inspect` reads one entry back
// (nextPollAt, failures, mode, leaseUntil) however the implementation stores it.

export interface PollScheduleHarness {
  schedule: PollSchedulePort;
  inspect(trackingNumber: string): Promise<{ nextPollAt: number | null; failures: number; mode: string; leaseUntil: number | null } | undefined>;
  close?(): Promise<void>;
}

const T0 = Date.UTC(2026, 11, 1, 8);

export function describePollScheduleContract(name: string, open: () => Promise<PollScheduleHarness>): void {
  describe(`poll schedule contract: ${name}`, () => {
    const withHarness = (fn: (h: PollScheduleHarness) => Promise<void>) => async () => {
      const h = await open();
      try {
        await fn(h);
      } finally {
        await h.close?.();
      }
    };

    it(
      'creates an entry on its first event, due at once, and claims it under a lease others cannot take',
      withHarness(async ({ schedule }) => {
        await schedule.noteEvent({ trackingNumber: 'A', carrier: 'simpost', status: 'in_transit', eventAt: T0 - 1000 }, T0);
        const first = await schedule.claimDue(T0, 10, 60_000);
        expect(first.map((e) => [e.trackingNumber, e.status, e.lastEventAt, e.createdAt, e.leaseUntil])).toEqual([['A', 'in_transit', T0 - 1000, T0, T0 + 60_000]]);
        expect(await schedule.claimDue(T0 + 59_999, 10, 60_000)).toEqual([]);
        // A holder that died: its lease runs out and the entry is claimable again.
        expect((await schedule.claimDue(T0 + 60_000, 10, 60_000)).map((e) => e.trackingNumber)).toEqual(['A']);
      }),
    );

    it(
      'claims the most overdue first, up to the limit, and never an entry due later',
      withHarness(async ({ schedule }) => {
        await schedule.noteEvent({ trackingNumber: 'LATE', carrier: 'simpost', status: 'in_transit', eventAt: T0 }, T0 + 5_000);
        await schedule.noteEvent({ trackingNumber: 'OLD', carrier: 'simpost', status: 'in_transit', eventAt: T0 }, T0 - 5_000);
        await schedule.noteEvent({ trackingNumber: 'MID', carrier: 'simpost', status: 'in_transit', eventAt: T0 }, T0);
        expect((await schedule.claimDue(T0, 1, 1_000)).map((e) => e.trackingNumber)).toEqual(['OLD']);
        expect((await schedule.claimDue(T0, 10, 1_000)).map((e) => e.trackingNumber)).toEqual(['MID']);
      }),
    );

    it(
      'reschedules only under the lease it was claimed with, and frees the lease',
      withHarness(async ({ schedule, inspect }) => {
        await schedule.noteEvent({ trackingNumber: 'A', carrier: 'simpost', status: 'in_transit', eventAt: T0 }, T0);
        const [stale] = await schedule.claimDue(T0, 1, 1_000);
        const [current] = await schedule.claimDue(T0 + 1_000, 1, 1_000);
        expect(await schedule.reschedule('A', stale!.leaseUntil!, { nextPollAt: T0 + 10, failures: 9, mode: 'polling' })).toBe(false);
        expect(await schedule.reschedule('A', current!.leaseUntil!, { nextPollAt: T0 + 3_600_000, failures: 0, mode: 'polling', status: 'out_for_delivery', etaAt: T0 + 7_200_000 })).toBe(true);
        expect(await inspect('A')).toEqual({ nextPollAt: T0 + 3_600_000, failures: 0, mode: 'polling', leaseUntil: null });
        const [again] = await schedule.claimDue(T0 + 3_600_000, 1, 1_000);
        expect(again).toMatchObject({ status: 'out_for_delivery', etaAt: T0 + 7_200_000 });
      }),
    );

    it(
      'records webhooks without moving the next check, and re-arms a stopped entry on news',
      withHarness(async ({ schedule, inspect }) => {
        await schedule.noteWebhook('A', 'simpost', T0, 'in_transit');
        const [e] = await schedule.claimDue(T0, 1, 1_000);
        expect(e).toMatchObject({ lastWebhookAt: T0, status: 'in_transit', mode: 'webhook' });
        await schedule.reschedule('A', e!.leaseUntil!, { nextPollAt: T0 + 43_200_000, failures: 0, mode: 'webhook' });
        await schedule.noteWebhook('A', 'simpost', T0 + 1_000, 'out_for_delivery');
        expect(await inspect('A')).toMatchObject({ nextPollAt: T0 + 43_200_000 });
        const [f] = await schedule.claimDue(T0 + 43_200_000, 1, 1_000);
        expect(f).toMatchObject({ lastWebhookAt: T0 + 1_000, status: 'out_for_delivery' });
        await schedule.reschedule('A', f!.leaseUntil!, { nextPollAt: null, failures: 3, mode: 'polling' });
        expect(await schedule.claimDue(T0 + 1e12, 1, 1_000)).toEqual([]);
        // An applied event alone (a poll's, a locker's) leaves it stopped; a webhook re-arms it.
        await schedule.noteEvent({ trackingNumber: 'A', carrier: 'simpost', status: 'delivered', eventAt: T0 + 2_000 }, T0 + 50_000_000);
        expect(await inspect('A')).toMatchObject({ nextPollAt: null, failures: 3 });
        expect(await schedule.get('A')).toMatchObject({ status: 'delivered', lastEventAt: T0 + 2_000 });
        await schedule.noteNews([{ trackingNumber: 'A', carrier: 'simpost', status: 'delivered', at: T0 + 50_000_000, webhookAt: T0 + 50_000_000, eventAt: T0 + 2_000 }]);
        expect(await inspect('A')).toMatchObject({ nextPollAt: T0 + 50_000_000, failures: 0 });
      }),
    );

    it(
      'keeps the newest event time when events arrive out of order',
      withHarness(async ({ schedule }) => {
        await schedule.noteEvent({ trackingNumber: 'A', carrier: 'simpost', status: 'in_transit', eventAt: T0 + 5_000 }, T0);
        await schedule.noteEvent({ trackingNumber: 'A', carrier: 'simpost', status: 'in_transit', eventAt: T0 + 1_000 }, T0);
        const [e] = await schedule.claimDue(T0, 1, 1_000);
        expect(e!.lastEventAt).toBe(T0 + 5_000);
      }),
    );

    it(
      'lets news bring the next look forward but never push it back, and creates a new entry due by it',
      withHarness(async ({ schedule, inspect }) => {
        await schedule.noteWebhook('A', 'simpost', T0, 'in_transit', T0 + 43_200_000);
        expect(await inspect('A')).toMatchObject({ nextPollAt: T0 + 43_200_000 });
        await schedule.noteWebhook('A', 'simpost', T0 + 1_000, 'out_for_delivery', T0 + 7_201_000);
        expect(await inspect('A')).toMatchObject({ nextPollAt: T0 + 7_201_000 });
        await schedule.noteEvent({ trackingNumber: 'A', carrier: 'simpost', status: 'in_transit', eventAt: T0 }, T0 + 2_000, T0 + 90_000_000);
        expect(await inspect('A')).toMatchObject({ nextPollAt: T0 + 7_201_000 });
        await schedule.noteEvent({ trackingNumber: 'B', carrier: 'simpost', status: 'in_transit', eventAt: T0 }, T0, T0 + 10_800_000);
        expect(await inspect('B')).toMatchObject({ nextPollAt: T0 + 10_800_000, failures: 0, mode: 'webhook' });
      }),
    );

    it(
      "enrols a shipment's number before any news, re-arms a stopped entry, and restarts a recycled number's",
      withHarness(async ({ schedule, inspect }) => {
        const H48 = 48 * 3_600_000;
        await schedule.enroll({ trackingNumber: 'NEW', carrier: 'dhl_express', at: T0, dueBy: T0 + H48, restart: false });
        expect(await inspect('NEW')).toEqual({ nextPollAt: T0 + H48, failures: 0, mode: 'webhook', leaseUntil: null });
        expect(await schedule.claimDue(T0 + H48 - 1, 10, 1_000)).toEqual([]);
        const [due] = await schedule.claimDue(T0 + H48, 10, 1_000);
        expect(due).toMatchObject({ trackingNumber: 'NEW', carrier: 'dhl_express', status: null, createdAt: T0, lastWebhookAt: null, lastEventAt: null });
        // The scans' carrier replaces the merchant's spelling.
        await schedule.noteWebhook('NEW', 'dhl', T0 + H48 + 5, 'picked_up');
        const [scanned] = await schedule.claimDue(T0 + 1e10, 10, 1_000);
        expect(scanned).toMatchObject({ carrier: 'dhl', status: 'picked_up' });

        await schedule.noteEvent({ trackingNumber: 'OLD', carrier: 'ups', status: 'delivered', eventAt: T0 - 1_000 }, T0);
        const [old] = await schedule.claimDue(T0, 1, 1_000);
        await schedule.reschedule('OLD', old!.leaseUntil!, { nextPollAt: null, failures: 0, mode: 'webhook' });
        // A stopped entry is due again, its facts kept (the policy stops a final status again
        // without asking the carrier); a scheduled one is left as it is.
        await schedule.enroll({ trackingNumber: 'OLD', carrier: 'ups', at: T0 + 10, dueBy: T0 + H48, restart: false });
        expect(await inspect('OLD')).toEqual({ nextPollAt: T0 + H48, failures: 0, mode: 'webhook', leaseUntil: null });
        await schedule.enroll({ trackingNumber: 'OLD', carrier: 'ups', at: T0 + 20, dueBy: T0 + 2 * H48, restart: false });
        expect(await inspect('OLD')).toMatchObject({ nextPollAt: T0 + H48 });
        const [kept] = await schedule.claimDue(T0 + H48, 10, 1_000);
        expect(kept).toMatchObject({ trackingNumber: 'OLD', status: 'delivered', createdAt: T0 });
        await schedule.reschedule('OLD', kept!.leaseUntil!, { nextPollAt: null, failures: 0, mode: 'webhook' });
        await schedule.enroll({ trackingNumber: 'OLD', carrier: 'ups', at: T0 + 10, dueBy: T0 + H48, restart: true });
        expect(await inspect('OLD')).toEqual({ nextPollAt: T0 + H48, failures: 0, mode: 'webhook', leaseUntil: null });
        const [again] = await schedule.claimDue(T0 + H48, 10, 1_000);
        expect(again).toMatchObject({ trackingNumber: 'OLD', status: null, createdAt: T0 + 10, lastEventAt: null, lastWebhookAt: null, etaAt: null });
      }),
    );

    it(
      'withdraws a number: it stops, a poll in flight cannot reschedule it, and news re-arms it',
      withHarness(async ({ schedule, inspect }) => {
        await schedule.noteEvent({ trackingNumber: 'GONE', carrier: 'ups', status: 'label_created', eventAt: T0 - 1_000 }, T0);
        const [held] = await schedule.claimDue(T0, 10, 60_000);
        await schedule.withdraw('GONE');
        expect(await inspect('GONE')).toEqual({ nextPollAt: null, failures: 0, mode: 'webhook', leaseUntil: null });
        expect(await schedule.reschedule('GONE', held!.leaseUntil!, { nextPollAt: T0 + 1_000, failures: 1, mode: 'polling' })).toBe(false);
        expect(await schedule.claimDue(T0 + 1e10, 10, 1_000)).toEqual([]);
        await schedule.withdraw('NEVER-SEEN');
        expect(await inspect('NEVER-SEEN')).toBeUndefined();
        // Withdrawn before any scan, then named by a new shipment a month later: its quiet
        // time counts from the new shipment (not from the old entry, which the policy would give up).
        await schedule.enroll({ trackingNumber: 'UNSCANNED', carrier: 'ups', at: T0, dueBy: T0 + 1_000, restart: false });
        await schedule.withdraw('UNSCANNED');
        await schedule.enroll({ trackingNumber: 'UNSCANNED', carrier: 'ups', at: T0 + 29 * 86_400_000, dueBy: T0 + 31 * 86_400_000, restart: false });
        const [rearmed] = (await schedule.claimDue(T0 + 31 * 86_400_000, 10, 1_000)).filter((x) => x.trackingNumber === 'UNSCANNED');
        expect(rearmed).toMatchObject({ status: null, createdAt: T0 + 29 * 86_400_000 });
        await schedule.noteWebhook('GONE', 'ups', T0 + 5_000, 'picked_up');
        expect(await inspect('GONE')).toMatchObject({ nextPollAt: T0 + 5_000 });
      }),
    );

    it(
      'reads an entry back with the lease it is held under, and without it once withdrawn',
      withHarness(async ({ schedule }) => {
        expect(await schedule.get('NONE')).toBeUndefined();
        await schedule.noteEvent({ trackingNumber: 'A', carrier: 'ups', status: 'in_transit', eventAt: T0 - 1_000, etaAt: T0 + 3_600_000 }, T0);
        const [held] = await schedule.claimDue(T0, 10, 60_000);
        expect(await schedule.get('A')).toEqual(held);
        expect(held).toMatchObject({ trackingNumber: 'A', carrier: 'ups', status: 'in_transit', etaAt: T0 + 3_600_000, lastEventAt: T0 - 1_000, leaseUntil: T0 + 60_000 });
        await schedule.withdraw('A');
        expect(await schedule.get('A')).toMatchObject({ nextPollAt: null, leaseUntil: null });
      }),
    );
  });
}
