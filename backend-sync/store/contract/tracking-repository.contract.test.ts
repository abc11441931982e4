import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { emptyProjection } from '../../tracking/core/tracking-fold.js';
import type { CanonicalTrackingEvent } from '../../tracking/tracking-event.js';
import type { DeadLetterQuery, InboxRow } from '../../tracking/tracking-store.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';
import { SqlTrackingRepository } from '../sql/tracking-repository.js';

// The tracking tables' contract, on every engine: the inbox keeps order and is claimed by
// one transaction at a time, dedupe keys are insert-if-absent and purged by age, history is
// append-only and holds each normalised hash once, the projection row is created on lock.

const dir = mkdtempSync(join(tmpdir(), 'tracking-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('tracking repository contract');
const T = 1_800_000_000_000;

const ev = (over: Partial<CanonicalTrackingEvent> = {}): CanonicalTrackingEvent => ({
  trackingNumber: 'TN1',
  carrier: 'ups',
  status: 'in_transit',
  carrierStatus: 'Arrived at facility',
  eventTime: T,
  location: { city: 'Lyon', country: 'FR' },
  ...over,
});

describe.each(engines)('TrackingRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlTrackingRepository;
  /** The readable rows a claim took (every row these tests write reads). */
  const claimRows = async (numbers: number, rows: number): Promise<InboxRow[]> => {
    const claim = await repo.claimInbox(numbers, rows);
    expect(claim.unreadable).toEqual([]);
    return claim.rows;
  };

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlTrackingRepository(x);
  });
  afterEach(() => dispose());

  it('claims a row whose event no longer reads apart, with its stored text and the reason, and the rows around it as usual', async () => {
    await repo.insertPayload({ id: 'p1', source: 'canonical', body: '{"events":[]}', receivedAt: T });
    await repo.enqueue([ev({ trackingNumber: 'TN1' }), ev({ trackingNumber: 'TN2' })].map((e) => ({ trackingNumber: e.trackingNumber, payloadId: 'p1', source: 'canonical' as const, event: e, receivedAt: T + 5 })));
    const newer = JSON.stringify({ ...ev({ trackingNumber: 'TN2' }), status: 'held_at_customs' });
    await x.run(sql(`UPDATE tracking_inbox SET event_json = ? WHERE tracking_number = 'TN2'`), [newer]);
    const claim = await x.transaction(() => repo.claimInbox(10, 100));
    expect(claim.rows.map((r) => r.trackingNumber)).toEqual(['TN1']);
    expect(claim.unreadable).toEqual([{ seq: expect.any(Number) as number, trackingNumber: 'TN2', source: 'canonical', eventJson: newer, receivedAt: T + 5, reason: expect.stringMatching(/corrupt row in tracking_inbox .*event_json does not match its schema \(status/) as string }]);
  });

  it('claims the numbers at the head of the inbox with all their rows (whole numbers first when capped), in arrival order with their events intact, and deletes the ones applied', async () => {
    await repo.insertPayload({ id: 'p1', source: 'canonical', body: '{"events":[]}', receivedAt: T });
    const events = [
      ev({ eventTime: T + 2 }),
      ev({ trackingNumber: 'TN2', carrierEventId: 'e-9', eventTime: T + 1 }),
      ev({ trackingNumber: 'TN3' }),
      ev({ status: 'delivered', location: undefined }),
    ];
    await repo.enqueue(events.map((e) => ({ trackingNumber: e.trackingNumber, payloadId: 'p1', source: 'canonical', event: e, receivedAt: T + 5 })));
    expect(await repo.inboxSize()).toBe(4);
    const claimed = await x.transaction(() => claimRows(2, 100));
    expect(claimed.map((r) => r.event)).toEqual([events[0], events[1], events[3]].map((e) => JSON.parse(JSON.stringify(e)) as unknown));
    expect(claimed[1]).toMatchObject({ trackingNumber: 'TN2', payloadId: 'p1', source: 'canonical', receivedAt: T + 5 });
    // Cut by the rows cap: whole numbers first (TN1's two rows), not the two oldest rows; on
    // PostgreSQL the head rows it locked come first (every locked row is applied).
    const capped = engine === 'sqlite' ? [events[0], events[3]] : [events[0], events[1]];
    expect((await x.transaction(() => claimRows(2, 2))).map((r) => r.event)).toEqual(capped.map((e) => JSON.parse(JSON.stringify(e)) as unknown));
    expect((await x.transaction(() => claimRows(2, 3))).map((r) => r.trackingNumber)).toEqual(['TN1', 'TN2', 'TN1']);
    // More head numbers than rows: still at most `rows`.
    expect(await x.transaction(() => claimRows(10, 1))).toHaveLength(1);
    await repo.deleteInbox(claimed.map((r) => r.seq));
    const rest = await x.transaction(() => claimRows(10, 100));
    expect(rest.map((r) => r.trackingNumber)).toEqual(['TN3']);
  });

  it('reports the backlog counted up to a cap, and when its oldest row was received', async () => {
    expect(await repo.inboxBacklog(10)).toEqual({ events: 0, oldestReceivedAt: null });
    await repo.insertPayload({ id: 'p1', source: 'canonical', body: '{"events":[]}', receivedAt: T });
    const enqueue = (tns: string[], receivedAt: number) => repo.enqueue(tns.map((tn) => ({ trackingNumber: tn, payloadId: 'p1', source: 'canonical' as const, event: ev({ trackingNumber: tn }), receivedAt })));
    await enqueue(['TN1', 'TN2'], T + 5);
    await enqueue(['TN3', 'TN4', 'TN5'], T + 9);
    expect(await repo.inboxBacklog(100)).toEqual({ events: 5, oldestReceivedAt: T + 5 });
    expect(await repo.inboxBacklog(3)).toEqual({ events: 3, oldestReceivedAt: T + 5 });
    const first = await x.transaction(() => claimRows(2, 2));
    await repo.deleteInbox(first.map((r) => r.seq));
    expect(await repo.inboxBacklog(100)).toEqual({ events: 3, oldestReceivedAt: T + 9 });
  });

  it('lets a second transaction claim only the inbox rows the first one does not hold', async () => {
    await repo.enqueue([1, 2, 3, 4].map((i) => ({ trackingNumber: `TN${String(i)}`, payloadId: 'p', source: 'poll', event: ev({ trackingNumber: `TN${String(i)}` }), receivedAt: T })));
    if (engine === 'sqlite') {
      // One exclusive writer: the second claim waits for the first to finish and its deletes.
      const first = x.transaction(async () => {
        const rows = await claimRows(2, 100);
        await repo.deleteInbox(rows.map((r) => r.seq));
        return rows;
      });
      const second = x.transaction(() => claimRows(10, 100));
      expect((await first).map((r) => r.trackingNumber)).toEqual(['TN1', 'TN2']);
      expect((await second).map((r) => r.trackingNumber)).toEqual(['TN3', 'TN4']);
      return;
    }
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let claimedFirst!: () => void;
    const firstClaimed = new Promise<void>((r) => (claimedFirst = r));
    const first = x.transaction(async () => {
      const rows = await claimRows(2, 100);
      claimedFirst();
      await held;
      return rows.map((r) => r.trackingNumber);
    });
    await firstClaimed;
    const second = await x.transaction(async () => (await claimRows(10, 100)).map((r) => r.trackingNumber));
    release();
    expect(await first).toEqual(['TN1', 'TN2']);
    expect(second).toEqual(['TN3', 'TN4']);
  });

  it('lets no other instance claim a later row of a number whose earlier rows are held', async () => {
    if (engine === 'sqlite') return; // one exclusive writer: nothing is held across claims
    const tns = ['TN1', 'TN2', 'TN1', 'TN2', 'TN3'];
    await repo.enqueue(tns.map((tn, i) => ({ trackingNumber: tn, payloadId: 'p', source: 'poll' as const, event: ev({ trackingNumber: tn, eventTime: T + i }), receivedAt: T })));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let claimedFirst!: () => void;
    const firstClaimed = new Promise<void>((r) => (claimedFirst = r));
    // The rows cap cuts inside the head: TN2's head row is claimed with TN1's rows or not locked at all.
    const first = x.transaction(async () => {
      const rows = await claimRows(2, 2);
      claimedFirst();
      await held;
      return rows.map((r) => r.seq);
    });
    await firstClaimed;
    const second = await x.transaction(async () => (await claimRows(10, 100)).map((r) => r.trackingNumber));
    const ofHeld = await x.transaction(async () => (await repo.claimInboxOf('TN1', 100)).rows.length);
    release();
    const firstRows = await first;
    expect(firstRows).toHaveLength(2);
    // The later rows of TN1 and TN2 wait for the first claim's batch; only TN3 is free.
    expect(second).toEqual(['TN3']);
    expect(ofHeld).toBe(0);
    await repo.deleteInbox(firstRows);
    expect((await x.transaction(() => claimRows(10, 100))).map((r) => r.trackingNumber)).toEqual(['TN1', 'TN2', 'TN3']);
  });

  it('records dedupe keys once, reports which exist, and purges them by age', async () => {
    expect([...(await repo.recordKeys(['a', 'b'], T))].sort()).toEqual(['a', 'b']);
    expect([...(await repo.recordKeys(['b', 'c'], T + 10))]).toEqual(['c']);
    expect([...(await repo.existingKeys(['a', 'c', 'z']))].sort()).toEqual(['a', 'c']);
    expect(await repo.purgeKeys(T + 1005, 1000, 100)).toBe(2);
    expect([...(await repo.existingKeys(['a', 'b', 'c']))]).toEqual(['c']);
  });

  it('keeps the dedupe keys an inbox row may still need: recorded within the window (and a day) before it was received', async () => {
    const DAY = 86_400_000;
    const W = 30 * DAY;
    await repo.recordKeys(['old'], T);
    await repo.recordKeys(['older'], T - 5 * DAY);
    await repo.insertPayload({ id: 'p1', source: 'canonical', body: '{}', receivedAt: T + 29 * DAY });
    await repo.enqueue([{ trackingNumber: 'TN1', payloadId: 'p1', source: 'canonical', event: ev(), receivedAt: T + 29 * DAY }]);
    // Day 31: past the window for both, but the replay received on day 29 waits in the inbox.
    expect(await repo.purgeKeys(T + 31 * DAY, W, 100)).toBe(1);
    expect([...(await repo.existingKeys(['old', 'older']))]).toEqual(['old']);
    await repo.deleteInbox((await x.transaction(() => claimRows(10, 100))).map((r) => r.seq));
    expect(await repo.purgeKeys(T + 31 * DAY, W, 100)).toBe(1);
  });

  it('appends each hash to history once and refuses to update or delete history', async () => {
    const entry = (hash: string, e: CanonicalTrackingEvent) => ({ trackingNumber: e.trackingNumber, hash, source: 'easypost' as const, payloadId: 'p', receivedAt: T + 1, event: e });
    expect([...(await repo.appendHistory([entry('h1', ev()), entry('h2', ev({ status: 'delivered' }))]))].sort()).toEqual(['h1', 'h2']);
    expect([...(await repo.appendHistory([entry('h2', ev()), entry('h3', ev({ trackingNumber: 'TN0' }))]))]).toEqual(['h3']);
    const h = await repo.history('TN1');
    expect(h.map((r) => [r.hash, r.event.status])).toEqual([
      ['h1', 'in_transit'],
      ['h2', 'delivered'],
    ]);
    expect(await repo.historyNumbers(undefined, 10)).toEqual(['TN0', 'TN1']);
    const lines = await repo.timelines(['TN1', 'TN0', 'NONE']);
    expect(lines.get('TN1')?.map((e) => [e.status, e.eventTime]).sort()).toEqual([['delivered', T], ['in_transit', T]]);
    expect(lines.get('TN0')).toEqual([{ status: 'in_transit', eventTime: T }]);
    expect(lines.has('NONE')).toBe(false);
    expect(await repo.historyNumbers('TN0', 10)).toEqual(['TN1']);
    await expect(x.run(sql(`UPDATE tracking_history SET status = 'x'`))).rejects.toThrow(/append-only/);
    await expect(x.run(sql(`DELETE FROM tracking_history`))).rejects.toThrow(/append-only/);
  });

  it('finds a history event of the same number and status within the window (the composite level), received since the cut-off', async () => {
    const entry = (hash: string, e: CanonicalTrackingEvent, receivedAt: number) => ({ trackingNumber: e.trackingNumber, hash, source: 'poll' as const, payloadId: 'p', receivedAt, event: e });
    await repo.appendHistory([entry('c1', ev({ eventTime: T }), T + 10), entry('c2', ev({ trackingNumber: 'TN2', status: 'delivered', eventTime: T }), T)]);
    const probe = (over: Partial<{ trackingNumber: string; status: CanonicalTrackingEvent['status']; from: number; to: number }>) => ({ trackingNumber: 'TN1', status: 'in_transit' as const, from: T - 60_000, to: T + 60_000, ...over });
    expect(
      await repo.compositeHits(
        [
          probe({}),
          probe({ from: T, to: T }), // bounds are inclusive
          probe({ from: T + 1, to: T + 60_001 }), // the event lies just before the window
          probe({ status: 'delivered' }), // another status of this number
          probe({ trackingNumber: 'TN2', status: 'delivered' }),
          probe({ trackingNumber: 'TN3' }),
        ],
        T,
      ),
    ).toEqual([true, true, false, false, true, false]);
    // Received before the cut-off: forgotten, as the dedupe keys are after the retention window.
    expect(await repo.compositeHits([probe({}), probe({ trackingNumber: 'TN2', status: 'delivered' })], T + 5)).toEqual([true, false]);
    expect(await repo.compositeHits([], T)).toEqual([]);
  });

  it('creates the projection row on first lock, saves it with a version bump, and keeps the read model by point lookup', async () => {
    const first = await x.transaction(() => repo.lockProjection('TN1', 'ups', T));
    expect(first).toEqual({ projection: emptyProjection('TN1', 'ups'), version: 0 });
    await x.transaction(async () => {
      const { projection } = await repo.lockProjection('TN1', 'ups', T);
      await repo.saveProjection({ ...projection, status: 'in_transit', lastEventTime: T }, T + 1);
    });
    expect(await repo.projection('TN1')).toMatchObject({ version: 1, projection: { status: 'in_transit', lastEventTime: T } });
    expect(await repo.projection('nope')).toBeUndefined();
    await repo.putReadModel('TN1', { docJson: '{"a":1}', etag: '"e1"' }, T);
    await repo.putReadModel('TN1', { docJson: '{"a":2}', etag: '"e2"' }, T + 1);
    expect(await repo.readModel('TN1')).toEqual({ docJson: '{"a":2}', etag: '"e2"' });
  });

  it('keeps flagged events for review and replaces one number’s flags after a re-fold', async () => {
    const flag = (hash: string) => ({ hash, from: 'delivered' as const, to: 'in_transit' as const, eventTime: T, reason: 'illegal transition delivered → in_transit' });
    await repo.addFlags('TN1', [flag('h1'), flag('h2')], T);
    await repo.addFlags('TN1', [flag('h1')], T + 5);
    await repo.addFlags('TN2', [flag('h9')], T);
    expect((await repo.flags('TN1')).map((f) => [f.hash, f.flaggedAt])).toEqual([
      ['h1', T],
      ['h2', T],
    ]);
    await repo.replaceFlags('TN1', [flag('h3')], T + 9);
    expect((await repo.flags()).map((f) => f.hash)).toEqual(['h3', 'h9']);
  });

  it('keeps dead letters with their reason', async () => {
    await repo.deadLetter({ id: 'd1', source: 'canonical', body: '{bad', reason: 'not JSON', receivedAt: T });
    expect(await repo.deadLetters()).toEqual([{ id: 'd1', source: 'canonical', body: '{bad', reason: 'not JSON', receivedAt: T }]);
  });

  it('lists dead letters newest first with the body cut to a preview and sized in bytes, and reads one whole without taking it', async () => {
    await repo.deadLetter({ id: 'd1', source: 'easypost', body: 'ééé-abc', reason: 'not JSON', receivedAt: T });
    await repo.deadLetter({ id: 'd2', source: 'locker', body: '{"events":[]}', reason: 'apply failed', receivedAt: T + 10 });
    await repo.deadLetter({ id: 'd3', source: 'easypost', body: '{}', reason: 'x', receivedAt: T + 10 });
    const page = (q: Partial<DeadLetterQuery>) => repo.listDeadLetters({ limit: 10, previewChars: 4, ...q });
    expect(await page({})).toEqual([
      { id: 'd3', source: 'easypost', reason: 'x', receivedAt: T + 10, bodyBytes: 2, preview: '{}' },
      { id: 'd2', source: 'locker', reason: 'apply failed', receivedAt: T + 10, bodyBytes: 13, preview: '{"ev' },
      // Characters for the cut (never half a character), bytes for the size.
      { id: 'd1', source: 'easypost', reason: 'not JSON', receivedAt: T, bodyBytes: 10, preview: 'ééé-' },
    ]);
    expect((await page({ after: { receivedAt: T + 10, id: 'd3' }, limit: 1 })).map((d) => d.id)).toEqual(['d2']);
    expect((await page({ after: { receivedAt: T + 10, id: 'd2' } })).map((d) => d.id)).toEqual(['d1']);
    expect((await page({ source: 'easypost' })).map((d) => d.id)).toEqual(['d3', 'd1']);
    expect((await page({ from: T + 1 })).map((d) => d.id)).toEqual(['d3', 'd2']);
    expect((await page({ to: T + 10 })).map((d) => d.id)).toEqual(['d1']);
    expect(await repo.getDeadLetter('d1')).toEqual({ id: 'd1', source: 'easypost', body: 'ééé-abc', reason: 'not JSON', receivedAt: T });
    expect(await repo.getDeadLetter('nope')).toBeUndefined();
    expect((await repo.deadLetters()).map((d) => d.id)).toEqual(['d1', 'd2', 'd3']);
  });

  it('purges raw payloads and dead letters by age, oldest first, never a payload whose events wait in the inbox', async () => {
    const DAY = 86_400_000;
    const payloadIds = async (): Promise<string[]> => (await x.all<{ id: string }>(sql('SELECT id FROM tracking_payloads ORDER BY id'))).map((r) => r.id);
    const payloads = [
      ['p1-old', T],
      ['p2-old', T + DAY],
      ['p3-skew', T + 2.5 * DAY], // received by an instance whose clock may run ahead
      ['p4-waiting', T + 3 * DAY],
      ['p5-after', T + 4 * DAY],
      ['p6-new', T + 20 * DAY],
    ] as const;
    for (const [id, at] of payloads) await repo.insertPayload({ id, source: 'canonical', body: '{"events":[]}', receivedAt: at });
    await repo.enqueue([{ trackingNumber: 'TN1', payloadId: 'p4-waiting', source: 'canonical', event: ev(), receivedAt: T + 3 * DAY }]);
    for (const [id, at] of [['d1-old', T], ['d2-new', T + 20 * DAY]] as const) await repo.deadLetter({ id, source: 'easypost', body: '{bad', reason: 'not JSON', receivedAt: at });

    // Limit 1 of each: the oldest payload and the old dead letter.
    expect(await repo.purgeRaw(T + 10 * DAY, 1)).toBe(2);
    expect(await payloadIds()).toEqual(['p2-old', 'p3-skew', 'p4-waiting', 'p5-after', 'p6-new']);
    expect((await repo.deadLetters()).map((d) => d.id)).toEqual(['d2-new']);
    // The waiting payload holds back itself, everything received after it, and the day before it.
    expect(await repo.purgeRaw(T + 10 * DAY, 100)).toBe(1);
    expect(await payloadIds()).toEqual(['p3-skew', 'p4-waiting', 'p5-after', 'p6-new']);
    const claimed = await x.transaction(() => claimRows(10, 100));
    await repo.deleteInbox(claimed.map((r) => r.seq));
    expect(await repo.purgeRaw(T + 10 * DAY, 100)).toBe(3);
    expect(await payloadIds()).toEqual(['p6-new']);
    expect(await repo.purgeRaw(T + 10 * DAY, 100)).toBe(0);
  });
});
