import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scan } from '../../testing/tracking-helpers.js';
import { normalisedHash, orderKey } from '../core/event-identity.js';
import { foldHistory } from '../core/tracking-fold.js';
import { trackingStatuses } from '../tracking-event.js';
import { appliedScans } from './applied-scans.js';
import { emptyLegStats, learnedStatuses, learnLeg, LegStatsSchema, legStat, mergeLegStats, variance, type CompletedTimeline, type LegStats } from './leg-stats.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1, 8);

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));

const timeline: fc.Arbitrary<CompletedTimeline> = fc
  .record({
    carrier: fc.constantFrom('simpost', 'ups'),
    legs: fc.array(fc.record({ status: fc.constantFrom(...learnedStatuses), before: fc.integer({ min: 1, max: 200 * HOUR }) }), { maxLength: 8 }),
    arrival: fc.integer({ min: T0, max: T0 + 1000 * HOUR }),
  })
  .map(({ carrier, legs, arrival }) => ({ carrier, events: [...legs.map((l) => ({ status: l.status, eventTime: arrival - l.before })), { status: 'delivered' as const, eventTime: arrival }] }));

function sameStats(a: LegStats, b: LegStats): boolean {
  for (const carrier of new Set([...Object.keys(a), ...Object.keys(b)])) {
    for (const status of learnedStatuses) {
      const x = a[carrier]?.[status];
      const y = b[carrier]?.[status];
      if ((x?.count ?? 0) !== (y?.count ?? 0) || (x?.shipments ?? 0) !== (y?.shipments ?? 0)) return false;
      if (x !== undefined && y !== undefined && !(close(x.mean, y.mean) && close(Math.sqrt(x.m2), Math.sqrt(y.m2)))) return false;
    }
  }
  return true;
}

const learnAll = (timelines: readonly CompletedTimeline[]): LegStats => timelines.reduce(learnLeg, emptyLegStats);

describe('learned leg statistics', () => {
  it('learns arrival minus scan time for every scan before arrival, and nothing after it', () => {
    const s = learnLeg(emptyLegStats, {
      carrier: 'simpost',
      events: [
        { status: 'delivered', eventTime: T0 + 50 * HOUR },
        { status: 'in_transit', eventTime: T0 + 10 * HOUR },
        { status: 'picked_up', eventTime: T0 },
        { status: 'in_transit', eventTime: T0 + 20 * HOUR },
        { status: 'collected', eventTime: T0 + 60 * HOUR },
        { status: 'delivered', eventTime: T0 + 70 * HOUR }, // a repeated delivery scan: the first arrival counts
      ],
    });
    expect(legStat(s, 'simpost', 'picked_up')).toEqual({ count: 1, mean: 50 * HOUR, m2: 0, shipments: 1 });
    const leg = legStat(s, 'simpost', 'in_transit')!;
    expect(leg.count).toBe(2);
    expect(leg.shipments).toBe(1);
    expect(leg.mean).toBe(35 * HOUR);
    // Sample variance of 30 h and 40 h: ((5 h)² + (5 h)²) / (2 − 1).
    expect(variance(leg)).toBe(2 * (5 * HOUR) ** 2);
  });

  it('counts the shipments behind a cell apart from its scans: five hub scans of one parcel are one shipment', () => {
    const hubs = (start: number): CompletedTimeline => ({
      carrier: 'ups',
      events: [...[0, 1, 2, 3, 4].map((i) => ({ status: 'in_transit' as const, eventTime: start + i * HOUR })), { status: 'delivered' as const, eventTime: start + 5 * HOUR }],
    });
    const one = learnLeg(emptyLegStats, hubs(T0));
    expect(legStat(one, 'ups', 'in_transit')).toMatchObject({ count: 5, shipments: 1 });
    const two = learnLeg(one, hubs(T0 + 100 * HOUR));
    expect(legStat(two, 'ups', 'in_transit')).toMatchObject({ count: 10, shipments: 2 });
    expect(legStat(mergeLegStats(one, two), 'ups', 'in_transit')).toMatchObject({ count: 15, shipments: 3 });
  });

  it('learns only from the scans the fold applied: a flagged step backwards is no leg', () => {
    const s = learnLeg(emptyLegStats, {
      carrier: 'ups',
      events: [
        { status: 'picked_up', eventTime: T0 },
        { status: 'in_transit', eventTime: T0 + 10 * HOUR },
        { status: 'out_for_delivery', eventTime: T0 + 40 * HOUR },
        { status: 'picked_up', eventTime: T0 + 41 * HOUR }, // backwards: flagged, never applied
        { status: 'label_created', eventTime: T0 + 41.2 * HOUR }, // backwards too
        { status: 'delivered', eventTime: T0 + 41.5 * HOUR },
      ],
    });
    expect(legStat(s, 'ups', 'picked_up')).toEqual({ count: 1, mean: 41.5 * HOUR, m2: 0, shipments: 1 });
    expect(legStat(s, 'ups', 'label_created')).toBeUndefined();
    // An arrival the fold refused (a delivery scan after the return) ends no leg.
    const refused = learnLeg(emptyLegStats, {
      carrier: 'ups',
      events: [
        { status: 'in_transit', eventTime: T0 },
        { status: 'returned_to_sender', eventTime: T0 + HOUR },
        { status: 'delivered', eventTime: T0 + 2 * HOUR }, // after the return: flagged
      ],
    });
    expect(refused).toBe(emptyLegStats);
  });

  it('keeps exactly the scans the fold applies, in any arrival order', () => {
    // Within 30 days: a recycled number's new cycle is cut off by the learner before this.
    const history = fc.array(fc.record({ status: fc.constantFrom(...trackingStatuses), at: fc.integer({ min: 0, max: 20 }) }), { maxLength: 12 });
    fc.assert(
      fc.property(history, (raw) => {
        const events = raw.map((r, i) => scan('TN', r.status, T0 + r.at * HOUR, { carrierStatus: String(i) }));
        const folded = foldHistory('TN', 'ups', events.map((event) => ({ key: orderKey(event, normalisedHash(event)), hash: normalisedHash(event), event })));
        const flagged = new Set(folded.flags.map((f) => f.hash));
        const expected = events.filter((e) => !flagged.has(normalisedHash(e))).map((e) => `${e.status}@${String(e.eventTime)}`).sort();
        const got = appliedScans(events).map((e) => `${e.status}@${String(e.eventTime)}`).sort();
        return JSON.stringify(got) === JSON.stringify(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('leaves time in exception out of the other legs that span it, and counts it in full in exception\'s own', () => {
    // In transit, ten days held in customs, recovered, delivered 20 h later.
    const held = learnLeg(emptyLegStats, {
      carrier: 'ups',
      events: [
        { status: 'picked_up', eventTime: T0 - 4 * HOUR },
        { status: 'in_transit', eventTime: T0 },
        { status: 'exception', eventTime: T0 + 2 * HOUR },
        { status: 'exception', eventTime: T0 + 5 * 24 * HOUR }, // still held
        { status: 'in_transit', eventTime: T0 + 10 * 24 * HOUR },
        { status: 'delivered', eventTime: T0 + 10 * 24 * HOUR + 20 * HOUR },
      ],
    });
    expect(legStat(held, 'ups', 'picked_up')).toMatchObject({ count: 1, mean: 26 * HOUR });
    expect(legStat(held, 'ups', 'in_transit')).toMatchObject({ count: 2, mean: 21 * HOUR, shipments: 1 }); // 22 h and 20 h of moving
    const ex = legStat(held, 'ups', 'exception')!;
    expect(ex.count).toBe(2);
    expect(ex.mean).toBe(((10 * 24 + 18) * HOUR + (5 * 24 + 20) * HOUR) / 2);
    // Delivered straight out of exception: the hold lasted until the delivery.
    const outOfHold = learnLeg(emptyLegStats, {
      carrier: 'ups',
      events: [
        { status: 'in_transit', eventTime: T0 },
        { status: 'exception', eventTime: T0 + 3 * HOUR },
        { status: 'delivered', eventTime: T0 + 100 * HOUR },
      ],
    });
    expect(legStat(outOfHold, 'ups', 'in_transit')).toMatchObject({ count: 1, mean: 3 * HOUR });
  });

  it('ends locker legs at the deposit, and learns nothing from a parcel that never arrived', () => {
    const locker = learnLeg(emptyLegStats, {
      carrier: 'simpost',
      events: [
        { status: 'out_for_delivery', eventTime: T0 },
        { status: 'available_for_pickup', eventTime: T0 + 3 * HOUR },
        { status: 'collected', eventTime: T0 + 30 * HOUR },
      ],
    });
    expect(legStat(locker, 'simpost', 'out_for_delivery')).toMatchObject({ count: 1, mean: 3 * HOUR });
    const returned = learnLeg(locker, { carrier: 'simpost', events: [{ status: 'in_transit', eventTime: T0 }, { status: 'returned_to_sender', eventTime: T0 + HOUR }] });
    expect(returned).toBe(locker);
  });

  it('learning in two halves and merging equals learning everything in one go, in any order', () => {
    fc.assert(
      fc.property(fc.array(timeline, { maxLength: 30 }), fc.nat(), (timelines, cut) => {
        const k = timelines.length === 0 ? 0 : cut % (timelines.length + 1);
        const whole = learnAll(timelines);
        const a = learnAll(timelines.slice(0, k));
        const b = learnAll(timelines.slice(k));
        return sameStats(mergeLegStats(a, b), whole) && sameStats(mergeLegStats(b, a), whole) && sameStats(learnAll([...timelines].reverse()), whole);
      }),
    );
  });

  it('round-trips through JSON and its schema, as the store keeps it', () => {
    fc.assert(
      fc.property(fc.array(timeline, { maxLength: 10 }), (timelines) => {
        const s = learnAll(timelines);
        return sameStats(LegStatsSchema.parse(JSON.parse(JSON.stringify(s))), s);
      }),
    );
  });
});
