import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgSuitesRun } from '../testing/pg-test-db.js';
import { openTestPgStore, type TestPgStore } from '../testing/test-store.js';
import { holdNextCall } from '../testing/signal.js';
import { MIN, T, scan, trackingRig } from '../testing/tracking-helpers.js';
import { normalisedHash } from './core/event-identity.js';
import { carrierPromiseEta } from './eta-seam.js';
import { rebuildTracking } from './rebuild-tracking.js';
import { trackingStatuses, type CanonicalTrackingEvent } from './tracking-event.js';

// Two backend instances (two stores, two pools) apply one burst from one PostgreSQL schema
// at once: inbox rows are claimed by one of them (SKIP LOCKED), numbers serialise on their
// projection row, and every event enters history once. (On SQLite the backend is one process.)

const runs = await pgSuitesRun('two tracking appliers');

describe.runIf(runs)('two tracking appliers on one PostgreSQL database', () => {
  let a: TestPgStore;
  let b: TestPgStore;
  beforeAll(async () => {
    a = await openTestPgStore({ poolSize: 4 });
    b = await openTestPgStore({ poolSize: 4, schema: a.schema });
  });
  afterAll(async () => {
    await b.store.close();
    await a.dispose();
  });

  it('applies a replayed burst without duplicates or lost events', async () => {
    const clean: CanonicalTrackingEvent[] = [];
    for (let n = 0; n < 40; n++) {
      for (let i = 0; i < 6; i++) clean.push(scan(`TWO-${String(n)}`, trackingStatuses[(n + i) % 5] ?? 'in_transit', T + i * 10 * MIN, { carrierEventId: `${String(n)}-${String(i)}` }));
    }
    const ra = trackingRig(a.store, { batchSize: 50 });
    const rb = trackingRig(b.store, { batchSize: 50 });
    // The same day sent twice by the provider, once to each instance, the second with fresh ids.
    await ra.send(clean);
    await rb.send(clean.map((e) => ({ ...e, carrierEventId: `${String(e.carrierEventId)}-again` })));
    await ra.send([...clean].reverse());
    await Promise.all([ra.applier.drain(), rb.applier.drain(), ra.applier.drain()]);
    expect(await a.store.tracking.inboxSize()).toBe(0);
    const hits = (r: typeof ra): number => r.metrics.dedupeHits.carrier_event_id + r.metrics.dedupeHits.composite + r.metrics.dedupeHits.payload_hash;
    // Every event entered history once: applied by the fold, or refused by it and flagged.
    expect(ra.metrics.counts.applied + rb.metrics.counts.applied + ra.metrics.counts.flagged + rb.metrics.counts.flagged).toBe(clean.length);
    expect(hits(ra) + hits(rb)).toBe(2 * clean.length);
    for (const tn of ['TWO-0', 'TWO-17', 'TWO-39']) {
      const h = await a.store.tracking.history(tn);
      expect(h.map((x) => x.hash).sort()).toEqual(clean.filter((e) => e.trackingNumber === tn).map(normalisedHash).sort());
    }
    expect(await rebuildTracking(b.store, rb.clock, carrierPromiseEta, { write: false })).toEqual({ numbers: 40, differences: [] });
  });

  it("never applies a number's later events while another instance holds its earlier ones", async () => {
    const order: string[] = [];
    const sink = (name: string) => ({
      changed: (changes: ReadonlyArray<{ after: { status: unknown } }>): Promise<void> => {
        order.push(...changes.map((c) => `${name}:${String(c.after.status)}`));
        return Promise.resolve();
      },
    });
    const ra = trackingRig(a.store, { batchSize: 2, milestones: sink('A') });
    const rb = trackingRig(b.store, { batchSize: 2, milestones: sink('B') });
    await ra.send([scan('ORD-1', 'label_created', T), scan('ORD-1', 'picked_up', T + MIN), scan('ORD-1', 'in_transit', T + 2 * MIN), scan('ORD-1', 'out_for_delivery', T + 3 * MIN)]);
    // A claims ORD-1's first two rows and holds them, uncommitted.
    const { reached: claimed, release: go } = holdNextCall(a.store.tracking, 'claimInbox');
    const aRun = ra.applier.applyBatch();
    await claimed.wait;
    expect(await rb.applier.applyBatch()).toBe(0);
    expect(await rb.applier.applyNow('ORD-1')).toBe(0);
    go.fire();
    expect(await aRun).toBe(2);
    expect(await rb.applier.applyBatch()).toBe(2);
    // One change per number and batch, in event order.
    expect(order).toEqual(['A:picked_up', 'B:out_for_delivery']);
    expect(ra.metrics.counts.refolds + rb.metrics.counts.refolds).toBe(0);
  });

  it('rebuilds beside a running applier without writing an older state back', async () => {
    const ra = trackingRig(a.store);
    await ra.send([scan('RB-1', 'picked_up', T), scan('RB-1', 'in_transit', T + 10 * MIN)]);
    await ra.applier.drain();
    // Instance B's rebuild, held right after it read the number's history.
    const { reached: read, release: go } = holdNextCall(b.store.tracking, 'history', (tn) => tn === 'RB-1');
    const rebuild = rebuildTracking(b.store, ra.clock, carrierPromiseEta, { write: true });
    await read.wait;
    // Instance A applies a newer scan meanwhile: it waits for the rebuild's lock (before the
    // fix it committed at once, and the rebuild wrote in_transit back over it).
    const applying = (async () => {
      await ra.send([scan('RB-1', 'out_for_delivery', T + 20 * MIN)]);
      await ra.applier.drain();
    })();
    await Promise.race([applying, new Promise((r) => setTimeout(r, 300))]);
    go.fire();
    const report = await rebuild;
    await applying;
    expect(report.differences).toEqual([]);
    expect((await a.store.tracking.projection('RB-1'))?.projection.status).toBe('out_for_delivery');
    expect((await rebuildTracking(a.store, ra.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
  });

  it('keeps a scan that lay within the skew of an event that lost its carrier id to the other instance', async () => {
    const ra = trackingRig(a.store);
    const rb = trackingRig(b.store);
    // Instance B records carrier event id K under number Y, and is held there, uncommitted.
    await rb.send([scan('GH-Y', 'in_transit', T, { carrierEventId: 'K' })]);
    const { reached: recorded, release: go } = holdNextCall(b.store.tracking, 'recordKeys');
    const bRun = rb.applier.applyBatch();
    await recorded.wait;
    // Instance A: number X reuses id K at facility P, and 30 s later a scan at facility Q
    // without an id. A waits on B's K; once B commits, P is the duplicate, and Q must stay
    // (it did not before: the in-batch window had already counted Q as P's duplicate).
    await ra.send([scan('GH-X', 'in_transit', T, { carrierEventId: 'K', location: { facility: 'P' } }), scan('GH-X', 'in_transit', T + 30_000, { location: { facility: 'Q' } })]);
    const aRun = ra.applier.applyBatch();
    await Promise.race([aRun, new Promise((r) => setTimeout(r, 300))]);
    go.fire();
    await Promise.all([aRun, bRun]);
    expect((await a.store.tracking.history('GH-X')).map((h) => h.event.location?.facility)).toEqual(['Q']);
    expect(ra.metrics.dedupeHits).toMatchObject({ carrier_event_id: 1 });
  });
});
