import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trackingStatuses, type TrackingStatus } from '../tracking-event.js';
import { defaultEtaConfig, estimateEta, type EtaInput } from './eta-estimator.js';
import { emptyLegStats, learnLeg, legStat, mergeLegStats, variance, type LegStats } from './leg-stats.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1, 8);

/** Stats where in_transit → delivered took each of `hours`. */
function inTransitStats(hours: readonly number[], carrier = 'simpost'): LegStats {
  return hours.reduce<LegStats>(
    (s, h, i) =>
      learnLeg(s, {
        carrier,
        events: [
          { status: 'in_transit', eventTime: T0 - 1000 * HOUR + i * HOUR },
          { status: 'delivered', eventTime: T0 - 1000 * HOUR + i * HOUR + h * HOUR },
        ],
      }),
    emptyLegStats,
  );
}

const base: EtaInput = { status: 'in_transit', carrier: 'simpost', lastEventAt: T0, now: T0 + HOUR, stats: emptyLegStats };
const width = (e: { earliest: number; latest: number }): number => e.latest - e.earliest;

const travelling = fc.constantFrom<TrackingStatus>('label_created', 'picked_up', 'in_transit', 'out_for_delivery', 'exception');
const input: fc.Arbitrary<EtaInput> = fc.record({
  status: fc.constantFrom(...trackingStatuses),
  carrier: fc.constant('simpost'),
  promisedAt: fc.option(fc.integer({ min: T0 - 100 * HOUR, max: T0 + 300 * HOUR }), { nil: undefined }),
  lastEventAt: fc.integer({ min: T0 - 200 * HOUR, max: T0 }),
  now: fc.integer({ min: T0, max: T0 + 200 * HOUR }),
  stats: fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 20 }).map((h) => inTransitStats(h)),
});

describe('ETA estimator', () => {
  it('takes the carrier promise when nothing is learned yet', () => {
    const e = estimateEta({ ...base, promisedAt: T0 + 30 * HOUR })!;
    expect(e).toMatchObject({ eta: T0 + 30 * HOUR, basis: 'carrier_promise', samples: 0, widenedForException: false });
    expect(e.earliest).toBe(T0 + 30 * HOUR - Math.round(1.645 * 12 * HOUR));
  });

  it('refines the promise towards learned legs and narrows the window', () => {
    const stats = inTransitStats([20, 22, 24, 26, 28, 20, 22, 24, 26, 28]);
    const promiseOnly = estimateEta({ ...base, promisedAt: T0 + 40 * HOUR })!;
    const refined = estimateEta({ ...base, promisedAt: T0 + 40 * HOUR, stats })!;
    expect(refined.basis).toBe('carrier_promise_refined');
    expect(refined.samples).toBe(10);
    expect(refined.eta).toBeLessThan(promiseOnly.eta);
    expect(refined.eta).toBeGreaterThan(T0 + 24 * HOUR);
    expect(width(refined)).toBeLessThan(width(promiseOnly));
  });

  it('uses learned legs alone without a promise, from the last scan, and ignores a promise already missed', () => {
    const stats = inTransitStats([10, 10, 10, 14, 14, 14]);
    expect(estimateEta({ ...base, stats })).toMatchObject({ eta: T0 + 12 * HOUR, basis: 'learned_legs', samples: 6 });
    expect(estimateEta({ ...base, stats, promisedAt: T0 })).toMatchObject({ basis: 'learned_legs' });
  });

  it('needs minSamples before trusting learned legs, and falls back to a default per status', () => {
    const few = inTransitStats([10, 10, 10, 10]);
    expect(estimateEta({ ...base, stats: few })).toMatchObject({ basis: 'status_default', eta: T0 + 48 * HOUR, samples: 0 });
    expect(estimateEta({ ...base, status: 'out_for_delivery' })).toMatchObject({ eta: T0 + 6 * HOUR });
  });

  it('counts shipments, not scans, towards minSamples and the uncertainty of the mean', () => {
    // Each past shipment was scanned in transit twice: 14 h and 10 h before delivery.
    const shipment = (i: number) => ({
      carrier: 'simpost',
      events: [
        { status: 'in_transit' as const, eventTime: T0 - 1000 * HOUR + i * 100 * HOUR },
        { status: 'in_transit' as const, eventTime: T0 - 996 * HOUR + i * 100 * HOUR },
        { status: 'delivered' as const, eventTime: T0 - 986 * HOUR + i * 100 * HOUR },
      ],
    });
    const learn = (n: number): LegStats => Array.from({ length: n }, (_, i) => shipment(i)).reduce<LegStats>(learnLeg, emptyLegStats);
    // Three shipments are six scans, still too few to replace the default.
    expect(estimateEta({ ...base, stats: learn(3) })).toMatchObject({ basis: 'status_default', samples: 0 });
    const stats = learn(5);
    const e = estimateEta({ ...base, stats })!;
    expect(e).toMatchObject({ basis: 'learned_legs', samples: 5, eta: T0 + 12 * HOUR });
    // Ten scans, but the mean is only as sure as five shipments make it.
    const stat = legStat(stats, 'simpost', 'in_transit')!;
    expect(stat.count).toBe(10);
    expect(e.latest - e.eta).toBe(Math.round(1.645 * Math.sqrt(variance(stat) * (1 + 1 / 5))));
  });

  it('sizes the learned window by the sample variance (M2 / (n − 1)), not the population one', () => {
    // Legs 10, 14, 10, 14, 12 h: M2 = 16 h², sample variance 4 h², sd = √(4 · (1 + 1/5)) h.
    const e = estimateEta({ ...base, stats: inTransitStats([10, 14, 10, 14, 12]) })!;
    expect(e.eta).toBe(T0 + 12 * HOUR);
    expect(e.latest - e.eta).toBe(Math.round(1.645 * Math.sqrt(4 * 1.2) * HOUR));
  });

  it('is never in the past: a late parcel is due from now on', () => {
    const stats = inTransitStats([2, 2, 2, 2, 2]);
    const e = estimateEta({ ...base, stats, now: T0 + 50 * HOUR })!;
    expect(e.eta).toBe(T0 + 50 * HOUR);
    expect(e.earliest).toBe(T0 + 50 * HOUR);
    expect(e.latest).toBeGreaterThan(e.eta);
  });

  it.each<TrackingStatus>(['delivered', 'available_for_pickup', 'collected', 'returned_to_sender'])('has no ETA once %s', (status) => {
    expect(estimateEta({ ...base, status, promisedAt: T0 + 10 * HOUR, stats: inTransitStats([5, 5, 5, 5, 5]) })).toBeNull();
  });

  it('in exception uses its own legs once it has enough of them', () => {
    let stats = inTransitStats([10, 10, 10, 10, 10]);
    for (let i = 0; i < 5; i++) stats = learnLeg(stats, { carrier: 'simpost', events: [{ status: 'exception', eventTime: T0 - 500 * HOUR }, { status: 'delivered', eventTime: T0 - 400 * HOUR }] });
    const e = estimateEta({ ...base, status: 'exception', stats })!;
    expect(e).toMatchObject({ eta: T0 + 100 * HOUR, widenedForException: true });
  });

  describe('properties', () => {
    it('the window always contains the point estimate', () => {
      fc.assert(
        fc.property(input, (i) => {
          const e = estimateEta(i);
          return e === null || (e.earliest <= e.eta && e.eta <= e.latest && e.eta >= i.now && e.earliest >= i.now);
        }),
        { numRuns: 500 },
      );
    });

    it('there is an ETA exactly while the parcel is still travelling', () => {
      fc.assert(fc.property(input, (i) => (estimateEta(i) !== null) === ['label_created', 'picked_up', 'in_transit', 'out_for_delivery', 'exception'].includes(i.status)));
    });

    it('exception widens the window of the same shipment in transit, on the late side', () => {
      fc.assert(
        fc.property(input, (i) => {
          const inTransit = estimateEta({ ...i, status: 'in_transit' })!;
          const exception = estimateEta({ ...i, status: 'exception' })!;
          return width(exception) > width(inTransit) && exception.earliest <= inTransit.earliest && exception.latest > inTransit.latest && exception.eta === inTransit.eta;
        }),
        { numRuns: 300 },
      );
    });

    it('more data of the same spread never widens the window (once there is enough to use)', () => {
      // Below minSamples the default is used, and the first usable data may well be wider than that guess.
      const enough = fc.array(fc.integer({ min: 1, max: 200 }), { minLength: defaultEtaConfig.minSamples, maxLength: 20 }).map((h) => inTransitStats(h));
      fc.assert(
        fc.property(input, enough, travelling, fc.integer({ min: 2, max: 5 }), (generated, stats, status, copies) => {
          const i = { ...generated, stats };
          const once = estimateEta({ ...i, status })!;
          let more = i.stats;
          for (let c = 1; c < copies; c++) more = mergeLegStats(more, i.stats);
          const many = estimateEta({ ...i, status, stats: more })!;
          // The spread (eta to latest) never grows. The whole window does not either, unless it
          // is cut at now: then a point estimate moving later (more weight on learned legs)
          // lengthens what is left of it, which is the truth, not noise.
          const cut = once.earliest === i.now || many.earliest === i.now;
          return many.latest - many.eta <= once.latest - once.eta + 1 && (cut || width(many) <= width(once) + 1); // +1: rounding to whole ms
        }),
        { numRuns: 300 },
      );
      // And strictly narrower where learned legs are used and the spread is above the floor.
      const stats = inTransitStats([10, 20, 30, 40, 50]);
      const once = estimateEta({ ...base, stats })!;
      const tenfold = estimateEta({ ...base, stats: Array.from({ length: 9 }).reduce<LegStats>((s) => mergeLegStats(s, stats), stats) })!;
      expect(width(tenfold)).toBeLessThan(width(once));
    });
  });

  it('documents its defaults as the docs table says', () => {
    expect(defaultEtaConfig).toMatchObject({ minSamples: 5, z: 1.645, promiseSdMs: 12 * HOUR });
  });
});
