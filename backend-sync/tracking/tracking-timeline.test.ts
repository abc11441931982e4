import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngines } from '../testing/pg-test-db.js';
import { openTestStore } from '../testing/test-store.js';
import { MIN, T, scan, trackingRig, type TrackingRig } from '../testing/tracking-helpers.js';
import type { SqlStore } from '../store/sql-store.js';
import { sql } from '../store/sql/sql-text.js';
import { carrierPromiseEta } from './eta-seam.js';
import { TRACKING_DEDUPE_RETENTION_MS } from './tracking-services.js';
import { rebuildTracking } from './rebuild-tracking.js';
import { TrackView } from './read-model.js';
import { CanonicalTrackingBatch } from './tracking-event.js';

// The tracking timeline through the real intake and applier, on every engine: exception
// recovery, late scans, illegal transitions flagged, the three dedupe levels, and the
// rebuild that must find the live projection equal to the fold of its history.

const dir = mkdtempSync(join(tmpdir(), 'tracking-timeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('tracking timeline');

describe.each(engines)('tracking timeline on %s', (engine) => {
  let store: SqlStore;
  let dispose: () => Promise<void>;
  let rig: TrackingRig;

  beforeEach(async () => {
    ({ store, dispose } = await openTestStore(engine, dir));
    rig = trackingRig(store);
  });
  afterEach(() => dispose());

  const view = async (tn: string): Promise<TrackView> => {
    const row = await store.tracking.readModel(tn);
    if (row === undefined) throw new Error(`no read model for ${tn}`);
    return TrackView.parse(JSON.parse(row.docJson));
  };

  it('recovers from an exception to in transit and serves status, location and the carrier promise from the read model', async () => {
    await rig.send([scan('A1', 'picked_up', T, { estimatedDeliveryAt: T + 2 * 86_400_000 }), scan('A1', 'exception', T + 10 * MIN, { carrierReason: 'address unclear' })]);
    await rig.applier.drain();
    expect((await view('A1')).status).toBe('exception');
    await rig.send([scan('A1', 'in_transit', T + 20 * MIN, { location: { city: 'Lyon', country: 'FR' } })]);
    await rig.applier.drain();
    const v = await view('A1');
    expect(v).toMatchObject({ status: 'in_transit', lastEventAt: T + 20 * MIN, lastLocation: { city: 'Lyon', country: 'FR' }, carrierPromise: T + 2 * 86_400_000, eta: T + 2 * 86_400_000, etaSource: 'carrier' });
    expect(v.history.map((h) => h.status)).toEqual(['in_transit', 'exception', 'picked_up']);
    expect(await store.tracking.inboxSize()).toBe(0);
  });

  it('stores a late scan in history without moving the state back', async () => {
    await rig.send([scan('B1', 'out_for_delivery', T + 30 * MIN)]);
    await rig.applier.drain();
    await rig.send([scan('B1', 'in_transit', T + 10 * MIN, { location: { city: 'Old' } })]);
    await rig.applier.drain();
    // The late scan fills in where the parcel was before, but the state stays out for delivery.
    expect(await view('B1')).toMatchObject({ status: 'out_for_delivery', lastEventAt: T + 30 * MIN, lastLocation: { city: 'Old' } });
    expect((await store.tracking.history('B1')).map((h) => h.event.status)).toEqual(['out_for_delivery', 'in_transit']);
    expect(rig.metrics.counts.refolds).toBe(1);
    expect(await store.tracking.flags('B1')).toEqual([]);
  });

  it('flags an illegal transition for review, keeps it in history and does not apply it', async () => {
    await rig.send([scan('C1', 'delivered', T), scan('C1', 'in_transit', T + 5 * MIN)]);
    await rig.applier.drain();
    expect((await view('C1')).status).toBe('delivered');
    expect((await store.tracking.flags('C1')).map((f) => [f.from, f.to])).toEqual([['delivered', 'in_transit']]);
    expect(await store.tracking.history('C1')).toHaveLength(2);
    // Counted once each: the flagged one is not also counted as applied.
    expect(rig.metrics.counts).toMatchObject({ applied: 1, flagged: 1 });
  });

  it('counts a late scan that moved the state as applied, though it made a newer one illegal', async () => {
    await rig.send([scan('C2', 'picked_up', T), scan('C2', 'in_transit', T + 10 * MIN)]);
    await rig.applier.drain();
    await rig.send([scan('C2', 'out_for_delivery', T + 5 * MIN)]);
    await rig.applier.drain();
    expect((await view('C2')).status).toBe('out_for_delivery');
    expect(rig.metrics.counts).toMatchObject({ applied: 3, flagged: 0 });
  });

  it('drops duplicates by carrier event id, by composite key within the skew, and by payload hash, and counts each', async () => {
    await rig.send([scan('D1', 'in_transit', T, { carrierEventId: 'ev-1', location: { city: 'X' } })]);
    await rig.applier.drain();
    await rig.send([
      scan('D1', 'delivered', T + 99 * MIN, { carrierEventId: 'ev-1' }), // same carrier id
      scan('D1', 'in_transit', T + 45_000, { location: { city: 'Y' } }), // same status 45 s later
    ]);
    await rig.applier.drain();
    expect(rig.metrics.dedupeHits).toEqual({ carrier_event_id: 1, composite: 1, payload_hash: 0 });
    expect((await store.tracking.history('D1')).map((h) => h.event.status)).toEqual(['in_transit']);
    // After the retention window only the history's hash remembers: a replay with a new id is still recognised.
    rig.clock.advance(TRACKING_DEDUPE_RETENTION_MS + 1);
    expect(await store.tracking.purgeKeys(rig.clock.now(), TRACKING_DEDUPE_RETENTION_MS, 1000)).toBe(1);
    await rig.send([scan('D1', 'in_transit', T, { carrierEventId: 'ev-1-replayed', location: { city: 'X' } })]);
    await rig.applier.drain();
    expect(rig.metrics.dedupeHits.payload_hash).toBe(1);
    expect(await store.tracking.history('D1')).toHaveLength(1);
    // …while the composite level has forgotten: a new scan of the same status 30 s away enters.
    await rig.send([scan('D1', 'in_transit', T + 30_000, { location: { city: 'Z' } })]);
    await rig.applier.drain();
    expect(rig.metrics.dedupeHits.composite).toBe(1);
    expect(await store.tracking.history('D1')).toHaveLength(2);
  });

  it("follows a carrier's revised promise that comes on a scan it already holds, and the rebuild agrees", async () => {
    const DAY = 86_400_000;
    const newest = (promise: number, id = 'pr-2') => scan('PR1', 'in_transit', T + 10 * MIN, { carrierEventId: id, estimatedDeliveryAt: promise });
    await rig.send([scan('PR1', 'picked_up', T, { carrierEventId: 'pr-1' }), newest(T + 2 * DAY)]);
    await rig.applier.drain();
    expect((await view('PR1')).carrierPromise).toBe(T + 2 * DAY);
    // The provider resends the whole history; the newest scan now carries a later promise (a delay).
    await rig.send([scan('PR1', 'picked_up', T, { carrierEventId: 'pr-1' }), newest(T + 4 * DAY)]);
    await rig.applier.drain();
    const v = await view('PR1');
    expect(v).toMatchObject({ status: 'in_transit', lastEventAt: T + 10 * MIN, carrierPromise: T + 4 * DAY, eta: T + 4 * DAY });
    // Still two scans to the customer and to the leg learner; the revision is a row of its own.
    expect(v.history.map((h) => h.status)).toEqual(['in_transit', 'picked_up']);
    expect((await store.tracking.timelines(['PR1'])).get('PR1')).toHaveLength(2);
    expect(await store.tracking.history('PR1')).toHaveLength(3);
    expect(rig.metrics.counts.promise_revised).toBe(1);
    // The same word again, with a fresh id or none, and an older scan with another promise: nothing moves.
    await rig.send([newest(T + 4 * DAY, 'pr-2-again'), scan('PR1', 'picked_up', T, { carrierEventId: 'pr-1', estimatedDeliveryAt: T + DAY })]);
    await rig.applier.drain();
    expect(await store.tracking.history('PR1')).toHaveLength(3);
    expect((await view('PR1')).carrierPromise).toBe(T + 4 * DAY);
    // Earlier again (the carrier caught up), then a late scan that refolds the history: the latest word holds.
    rig.clock.advance(MIN);
    await rig.send([newest(T + 3 * DAY)]);
    await rig.applier.drain();
    await rig.send([scan('PR1', 'label_created', T - 60 * MIN)]);
    await rig.applier.drain();
    expect(await view('PR1')).toMatchObject({ carrierPromise: T + 3 * DAY, history: [{ status: 'in_transit' }, { status: 'picked_up' }, { status: 'label_created' }] });
    expect(rig.metrics.counts.promise_revised).toBe(2);
    expect(await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: false })).toEqual({ numbers: 1, differences: [] });
  });

  it('takes a revised promise from another spelling of the same scan once, the same whatever the batches or the order a late scan came in', async () => {
    const DAY = 86_400_000;
    const held = scan('PR2', 'in_transit', T + 10 * MIN, { carrierStatus: 'IN_TRANSIT', location: { city: 'Kassel' }, estimatedDeliveryAt: T + 2 * DAY });
    // The same scan from another source (its own spelling: a composite duplicate), with a later promise.
    const other = scan('PR2', 'in_transit', T + 10 * MIN + 20_000, { carrierStatus: 'transit', estimatedDeliveryAt: T + 3 * DAY });
    await rig.send([scan('PR2', 'picked_up', T), held]);
    await rig.applier.drain();
    for (let k = 0; k < 3; k++) {
      rig.clock.advance(MIN);
      await rig.send([other]);
      await rig.applier.drain();
    }
    expect((await view('PR2')).carrierPromise).toBe(T + 3 * DAY);
    expect(await store.tracking.history('PR2')).toHaveLength(3);

    // A stale update of an older scan in the same batch does not hide the newest scan's revision.
    const newest = (promise: number) => scan('PR3', 'in_transit', T + 10 * MIN, { estimatedDeliveryAt: promise });
    const older = scan('PR3', 'picked_up', T, { estimatedDeliveryAt: T + DAY });
    await rig.send([older, newest(T + 2 * DAY)]);
    await rig.applier.drain();
    rig.clock.advance(MIN);
    await rig.send([newest(T + 4 * DAY)]);
    await rig.send([older]);
    await rig.applier.drain();
    expect((await view('PR3')).carrierPromise).toBe(T + 4 * DAY);

    // A late scan that makes the revised scan illegal takes its revisions with it, whichever came first.
    const late = (tn: string) => scan(tn, 'out_for_delivery', T + 5 * MIN);
    const revised = (tn: string, promise: number) => scan(tn, 'in_transit', T + 10 * MIN, { estimatedDeliveryAt: promise });
    for (const [tn, lateFirst] of [['PR4', false], ['PR5', true]] as const) {
      await rig.send([scan(tn, 'picked_up', T), ...(lateFirst ? [late(tn)] : []), revised(tn, T + 2 * DAY)]);
      await rig.applier.drain();
      rig.clock.advance(MIN);
      await rig.send([revised(tn, T + 4 * DAY)]);
      await rig.applier.drain();
      if (!lateFirst) {
        await rig.send([late(tn)]);
        await rig.applier.drain();
      }
    }
    const a = (await store.tracking.projection('PR4'))?.projection;
    const b = (await store.tracking.projection('PR5'))?.projection;
    expect({ status: a?.status, promise: a?.carrierPromise, flagged: a?.flagged }).toEqual({ status: 'out_for_delivery', promise: null, flagged: 1 });
    expect({ status: b?.status, promise: b?.carrierPromise, flagged: b?.flagged }).toEqual({ status: 'out_for_delivery', promise: null, flagged: 1 });
    expect(await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: false })).toEqual({ numbers: 4, differences: [] });
  });

  it('ends on the latest received revision whether revisions are applied in one batch or two', async () => {
    const DAY = 86_400_000;
    const now = rig.clock.now();
    const held = (tn: string, p: number) => scan(tn, 'in_transit', T, { estimatedDeliveryAt: p });
    const promises: Array<number | null | undefined> = [];
    for (const [tn, oneBatch] of [['PB1', true], ['PB2', false]] as const) {
      await rig.intake.accept({ source: 'canonical', body: '{}', receivedAt: now }, [held(tn, T + 2 * DAY)]);
      await rig.applier.drain();
      // Queued first but received later (another instance's clock; a poll stamped before a webhook).
      await rig.intake.accept({ source: 'aftership', body: '{}', receivedAt: now + 2 * MIN }, [held(tn, T + 3 * DAY)]);
      if (!oneBatch) await rig.applier.drain();
      await rig.intake.accept({ source: 'poll', body: '{}', receivedAt: now + MIN }, [held(tn, T + 4 * DAY)]);
      await rig.applier.drain();
      promises.push((await store.tracking.projection(tn))?.projection.carrierPromise);
    }
    expect(promises).toEqual([T + 3 * DAY, T + 3 * DAY]);
    // Received in the same millisecond: the fold's order (then the promise) decides, in one batch or two.
    const tied: Array<number | null | undefined> = [];
    for (const [tn, oneBatch] of [['PB3', true], ['PB4', false]] as const) {
      await rig.intake.accept({ source: 'canonical', body: '{}', receivedAt: now }, [held(tn, T + 2 * DAY)]);
      await rig.applier.drain();
      await rig.intake.accept({ source: 'poll', body: '{}', receivedAt: now + MIN }, [held(tn, T + 4 * DAY)]);
      if (!oneBatch) await rig.applier.drain();
      await rig.intake.accept({ source: 'aftership', body: '{}', receivedAt: now + MIN }, [held(tn, T + 3 * DAY)]);
      await rig.applier.drain();
      tied.push((await store.tracking.projection(tn))?.projection.carrierPromise);
    }
    expect(tied[0]).toBe(tied[1]);
    // A newer scan in the same batch as a revision does not hide it (the applier was behind).
    const delayed: Array<number | null | undefined> = [];
    for (const [tn, oneBatch] of [['PB5', true], ['PB6', false]] as const) {
      const s1 = (p?: number) => scan(tn, 'in_transit', T, p === undefined ? {} : { estimatedDeliveryAt: p });
      await rig.intake.accept({ source: 'easypost', body: '{}', receivedAt: now }, [s1(T + 2 * DAY)]);
      await rig.applier.drain();
      await rig.intake.accept({ source: 'easypost', body: '{}', receivedAt: now + MIN }, [s1(T + 5 * DAY)]);
      if (!oneBatch) await rig.applier.drain();
      await rig.intake.accept({ source: 'easypost', body: '{}', receivedAt: now + 2 * MIN }, [s1(), scan(tn, 'out_for_delivery', T + 60 * MIN)]);
      await rig.applier.drain();
      delayed.push((await store.tracking.projection(tn))?.projection.carrierPromise);
    }
    expect(delayed).toEqual([T + 5 * DAY, T + 5 * DAY]);
    // ...nor does that revision hide one of the batch's own newer scan.
    const both: Array<number | null | undefined> = [];
    for (const [tn, oneBatch] of [['PB7', true], ['PB8', false]] as const) {
      const s1 = (p: number) => scan(tn, 'in_transit', T, { estimatedDeliveryAt: p });
      const x = (p: number) => scan(tn, 'out_for_delivery', T + 60 * MIN, { estimatedDeliveryAt: p });
      await rig.intake.accept({ source: 'easypost', body: '{}', receivedAt: now }, [s1(T + 2 * DAY)]);
      await rig.applier.drain();
      for (const [k, events] of [[s1(T + 3 * DAY)], [s1(T + 3 * DAY), x(T + 4 * DAY)], [s1(T + 3 * DAY), x(T + 5 * DAY)]].entries()) {
        await rig.intake.accept({ source: 'easypost', body: '{}', receivedAt: now + (k + 1) * MIN }, events);
        if (!oneBatch) await rig.applier.drain();
      }
      await rig.applier.drain();
      both.push((await store.tracking.projection(tn))?.projection.carrierPromise);
    }
    expect(both).toEqual([T + 5 * DAY, T + 5 * DAY]);
    // A copy of the stored scan (another source, 50 s off) never revises the batch's newer scan,
    // whether it brings a new promise or repeats the held one.
    for (const [k, copied] of [T + 3 * DAY, T + 2 * DAY].entries()) {
      const ends: Array<{ promise: number | null | undefined; revised: number }> = [];
      for (const oneBatch of [true, false]) {
        const tn = `PC${String(k)}${oneBatch ? 'A' : 'B'}`;
        const revised0 = rig.metrics.counts.promise_revised;
        await rig.intake.accept({ source: 'easypost', body: '{}', receivedAt: now }, [scan(tn, 'in_transit', T, { estimatedDeliveryAt: T + 2 * DAY })]);
        await rig.applier.drain();
        const copy = scan(tn, 'in_transit', T + 50_000, { carrierStatus: 'IT', estimatedDeliveryAt: copied });
        const newer = scan(tn, 'in_transit', T + 61_000, { location: { city: 'Next' }, estimatedDeliveryAt: T + 4 * DAY });
        for (const events of oneBatch ? [[copy, newer]] : [[copy], [newer]]) {
          await rig.intake.accept({ source: 'poll', body: '{}', receivedAt: now + MIN }, events);
          if (!oneBatch) await rig.applier.drain();
        }
        await rig.applier.drain();
        ends.push({ promise: (await store.tracking.projection(tn))?.projection.carrierPromise, revised: rig.metrics.counts.promise_revised - revised0 });
      }
      expect(ends[0]).toEqual(ends[1]);
      expect(ends[0]?.promise).toBe(T + 4 * DAY);
    }
    // A revision older than the one in effect, arriving late, writes nothing.
    const rows = (await store.tracking.history('PB1')).length;
    await rig.intake.accept({ source: 'poll', body: '{}', receivedAt: now + 30_000 }, [held('PB1', T + 5 * DAY)]);
    await rig.applier.drain();
    expect(await store.tracking.history('PB1')).toHaveLength(rows);
    expect((await store.tracking.projection('PB1'))?.projection.carrierPromise).toBe(T + 3 * DAY);
  });

  it('rebuilds every projection to exactly the live one, and reports and repairs one that was tampered with', async () => {
    await rig.send([scan('E1', 'picked_up', T), scan('E1', 'delivered', T + 50 * MIN), scan('E2', 'in_transit', T + MIN), scan('E1', 'in_transit', T + 60 * MIN)]);
    await rig.applier.drain();
    await rig.send([scan('E1', 'exception', T + 20 * MIN), scan('E2', 'label_created', T)]);
    await rig.applier.drain();
    expect(await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: false })).toEqual({ numbers: 2, differences: [] });
    await store.x.run(sql(`UPDATE tracking_read SET doc_json = '{}' WHERE tracking_number = 'E2'`));
    const dry = await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: false });
    expect(dry.differences.map((d) => [d.trackingNumber, d.what])).toEqual([['E2', 'read_model']]);
    expect((await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: true })).differences).toHaveLength(1);
    expect((await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
    expect((await view('E2')).status).toBe('in_transit');
  });

  it('keeps a malformed payload as a dead letter with its reason', async () => {
    await rig.intake.deadLetter({ source: 'canonical', body: '{"events":[{}]}', receivedAt: T }, 'events.0.trackingNumber: required');
    expect(await store.tracking.deadLetters()).toEqual([expect.objectContaining({ source: 'canonical', body: '{"events":[{}]}', reason: 'events.0.trackingNumber: required' })]);
    await expect(rig.intake.accept({ source: 'canonical', body: '', receivedAt: T }, [{ ...scan('F1', 'in_transit', T), status: 'teleported' as 'in_transit' }])).rejects.toThrow(/tracking events/);
    expect(await store.tracking.inboxSize()).toBe(0);
  });

  it('dead-letters the events of a number that cannot be applied and applies the rest of the batch', async () => {
    // A milestone sink that fails for one number stands in for any fault in its content.
    const poisoned = trackingRig(store, {
      milestones: {
        changed: (changes) => (changes.some((c) => c.after.trackingNumber === 'BAD-1') ? Promise.reject(new Error('sink refused BAD-1')) : Promise.resolve()),
      },
    });
    await poisoned.send([scan('OK-1', 'picked_up', T), scan('BAD-1', 'picked_up', T), scan('OK-2', 'picked_up', T + MIN), scan('BAD-1', 'in_transit', T + MIN)]);
    expect(await poisoned.applier.drain()).toBe(4);
    expect(await store.tracking.inboxSize()).toBe(0);
    expect((await view('OK-1')).status).toBe('picked_up');
    expect((await view('OK-2')).status).toBe('picked_up');
    // Nothing of BAD-1 was kept half-applied: no history, no read model; both events wait as dead letters.
    expect(await store.tracking.history('BAD-1')).toEqual([]);
    expect(await store.tracking.readModel('BAD-1')).toBeUndefined();
    const dead = await store.tracking.deadLetters();
    // Each a canonical batch: once the cause is fixed, it goes back through POST /tracking/events as it is.
    expect(dead.map((d) => CanonicalTrackingBatch.parse(JSON.parse(d.body)).events.map((e) => e.status)).flat().sort()).toEqual(['in_transit', 'picked_up']);
    expect(dead.every((d) => d.reason === 'apply failed: sink refused BAD-1')).toBe(true);
    expect(poisoned.metrics.counts).toMatchObject({ applied: 2, dead_lettered: 2 });
    const resent = trackingRig(store);
    for (const d of dead) await resent.intake.accept({ source: 'canonical', body: d.body, receivedAt: resent.clock.now() }, CanonicalTrackingBatch.parse(JSON.parse(d.body)).events);
    await resent.applier.drain();
    expect((await view('BAD-1')).status).toBe('in_transit');
  });
});
