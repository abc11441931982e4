import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CanonicalTrackingEvent, TrackingStatus } from '../tracking-event.js';
import { trackingStatuses } from '../tracking-event.js';
import { normalisedHash, orderKey, promiseRevisionHash } from './event-identity.js';
import { REUSED_NUMBER_GAP_MS, foldHistory, foldStep, emptyProjection, isInOrder, movesRefolded, parcelHolding, type FoldEvent, type TrackingProjection } from './tracking-fold.js';
import { transitionVerdict } from './status-rules.js';

const T = 1_800_000_000_000;
const MIN = 60_000;

function fe(status: TrackingStatus, at: number, over: Partial<CanonicalTrackingEvent> = {}): FoldEvent {
  const event: CanonicalTrackingEvent = { trackingNumber: 'TN', carrier: 'ups', status, carrierStatus: status.toUpperCase(), eventTime: at, ...over };
  const hash = normalisedHash(event);
  return { key: orderKey(event, hash), hash, event };
}

/** Live application the way the applier does it: one step when in order, else a re-fold of everything. */
function live(events: readonly FoldEvent[]): TrackingProjection {
  let p = emptyProjection('TN', 'ups');
  const seen: FoldEvent[] = [];
  for (const e of events) {
    seen.push(e);
    p = isInOrder(p, [e]) ? foldStep(p, e).next : foldHistory('TN', 'ups', seen).projection;
  }
  return p;
}

describe('tracking status rules', () => {
  it('allows skipping steps forward and refuses steps backward', () => {
    expect(transitionVerdict('label_created', 'delivered').legal).toBe(true);
    expect(transitionVerdict('out_for_delivery', 'in_transit').legal).toBe(false);
    expect(transitionVerdict('delivered', 'in_transit').legal).toBe(false);
  });

  it('reaches exception from any parcel on its way and recovers to in_transit or further, or with the pickup when the carrier never had it', () => {
    for (const from of ['label_created', 'picked_up', 'in_transit', 'out_for_delivery', 'available_for_pickup'] as const) expect(transitionVerdict(from, 'exception').legal).toBe(true);
    for (const from of ['delivered', 'collected', 'returned_to_sender'] as const) expect(transitionVerdict(from, 'exception').legal).toBe(false);
    const onItsWay = ['label_created', 'picked_up', 'in_transit', 'exception'] as const;
    expect(transitionVerdict('exception', 'in_transit', onItsWay).legal).toBe(true);
    expect(transitionVerdict('exception', 'delivered', onItsWay).legal).toBe(true);
    expect(transitionVerdict('exception', 'picked_up', onItsWay).legal).toBe(false);
    // A pickup that failed (the carrier never collected it) recovers when it does.
    expect(transitionVerdict('exception', 'picked_up', ['label_created', 'exception']).legal).toBe(true);
    expect(transitionVerdict('exception', 'picked_up', ['exception']).legal).toBe(true);
    expect(transitionVerdict('exception', 'label_created', ['label_created', 'exception']).legal).toBe(false);
  });

  it('takes a pickup after a failed pickup: the parcel leaves exception and the trouble stays a reached milestone', () => {
    const p = foldHistory('TN', 'ups', [fe('label_created', T), fe('exception', T + MIN, { carrierReason: 'not tendered' }), fe('picked_up', T + 2 * MIN)]);
    expect(p.projection).toMatchObject({ status: 'picked_up', reached: ['label_created', 'exception', 'picked_up'], flagged: 0 });
    expect(p.flags).toEqual([]);
  });

  it('lets a locker parcel go from delivered to available for pickup to collected, and nothing after collected or a return', () => {
    expect(transitionVerdict('delivered', 'available_for_pickup').legal).toBe(true);
    expect(transitionVerdict('available_for_pickup', 'collected').legal).toBe(true);
    expect(transitionVerdict('available_for_pickup', 'returned_to_sender').legal).toBe(true);
    for (const to of trackingStatuses.filter((s) => s !== 'collected')) expect(transitionVerdict('collected', to).legal).toBe(false);
    for (const to of trackingStatuses.filter((s) => s !== 'returned_to_sender')) expect(transitionVerdict('returned_to_sender', to).legal).toBe(false);
  });

  it("once one of our lockers took the parcel in, only its own events move it on, and its pickup outranks its expiry", () => {
    const carrier = { inLocker: true, byLocker: false };
    const locker = { inLocker: true, byLocker: true };
    for (const to of trackingStatuses.filter((s) => s !== 'available_for_pickup')) expect(transitionVerdict('available_for_pickup', to, [], carrier).legal, to).toBe(false);
    expect(transitionVerdict('available_for_pickup', 'available_for_pickup', [], carrier).legal).toBe(true);
    expect(transitionVerdict('available_for_pickup', 'collected', [], locker).legal).toBe(true);
    expect(transitionVerdict('available_for_pickup', 'returned_to_sender', [], locker).legal).toBe(true);
    expect(transitionVerdict('returned_to_sender', 'collected', [], locker).legal).toBe(true);
    expect(transitionVerdict('returned_to_sender', 'collected', [], carrier).legal).toBe(false);
    expect(transitionVerdict('collected', 'returned_to_sender', [], locker).legal).toBe(false);
    // A carrier's pickup point (no locker of ours): its parcel may still go back with trouble on the way.
    expect(transitionVerdict('available_for_pickup', 'exception').legal).toBe(true);
  });

  it('folds a locker parcel the same live and rebuilt, whatever order its events and the carrier scans arrive in', () => {
    const byLocker = (e: FoldEvent): FoldEvent => ({ ...e, byLocker: true });
    const events = [
      fe('out_for_delivery', T),
      byLocker(fe('available_for_pickup', T + MIN, { lockerId: 'lk-a' })),
      fe('exception', T + 2 * MIN, { carrierReason: 'locker full' }),
      fe('in_transit', T + 3 * MIN),
      byLocker(fe('returned_to_sender', T + 4 * MIN, { lockerId: 'lk-a' })),
      byLocker(fe('collected', T + 5 * MIN, { lockerId: 'lk-a' })),
    ];
    const clean = foldHistory('TN', 'ups', events);
    expect(clean.projection).toMatchObject({ status: 'collected', inLocker: true, reached: ['out_for_delivery', 'available_for_pickup', 'returned_to_sender', 'collected'] });
    expect(clean.flags.map((f) => f.to)).toEqual(['exception', 'in_transit']);
    fc.assert(
      fc.property(fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }), (order) => {
        expect(live(order)).toEqual(clean.projection);
      }),
    );
    // The same scans with the locker's events sent by a carrier (a canonical batch naming a locker): carrier rules.
    const asCarrier = foldHistory('TN', 'ups', events.map((e) => ({ ...e, byLocker: false })));
    expect(asCarrier.projection).toMatchObject({ status: 'returned_to_sender', inLocker: false });
  });
});

describe('the tracking fold', () => {
  it('recovers from an exception to in transit and keeps the exception as a reached milestone', () => {
    const { projection, flags } = foldHistory('TN', 'ups', [fe('picked_up', T), fe('exception', T + MIN), fe('in_transit', T + 2 * MIN, { location: { city: 'Lyon' } })]);
    expect(projection.status).toBe('in_transit');
    expect(projection.location).toEqual({ city: 'Lyon' });
    expect(projection.reached).toEqual(['picked_up', 'exception', 'in_transit']);
    expect(flags).toEqual([]);
  });

  it("takes only the promise from a revision of a scan already folded, the latest received last, whatever order the history is read in", () => {
    const scanned = fe('in_transit', T, { estimatedDeliveryAt: T + 2 * 86_400_000 });
    const revision = (receivedAt: number, promise: number): FoldEvent => {
      const hash = promiseRevisionHash(scanned.hash, receivedAt, promise);
      return { key: orderKey(scanned.event, hash), hash, event: { ...scanned.event, estimatedDeliveryAt: promise } };
    };
    const history = [fe('picked_up', T - MIN), scanned, revision(T + 5 * MIN, T + 4 * 86_400_000), revision(T + 9 * MIN, T + 3 * 86_400_000)];
    const once = foldHistory('TN', 'ups', [...history].reverse()).projection;
    expect(once).toMatchObject({ status: 'in_transit', lastEventTime: T, carrierPromise: T + 3 * 86_400_000, events: 2 });
    expect(once.recent.map((r) => r.status)).toEqual(['in_transit', 'picked_up']);
    expect(live(history)).toEqual(once);
  });

  it('flags a backward step and leaves the state where it was', () => {
    const back = fe('in_transit', T + 2 * MIN);
    const { projection, flags } = foldHistory('TN', 'ups', [fe('out_for_delivery', T + MIN), back]);
    expect(projection.status).toBe('out_for_delivery');
    expect(projection.lastEventTime).toBe(T + MIN);
    expect(flags).toEqual([{ hash: back.hash, from: 'out_for_delivery', to: 'in_transit', eventTime: T + 2 * MIN, reason: 'illegal transition out_for_delivery → in_transit' }]);
    expect(projection.recent[0]).toMatchObject({ status: 'in_transit', flagged: true });
  });

  it('moves time and location on a newer scan of the same status', () => {
    const { projection } = foldHistory('TN', 'ups', [fe('in_transit', T, { location: { city: 'A' } }), fe('in_transit', T + 5 * MIN, { location: { city: 'B' } })]);
    expect(projection).toMatchObject({ status: 'in_transit', lastEventTime: T + 5 * MIN, location: { city: 'B' } });
  });

  it('does not let a late scan move the state backwards: the chain out_for_delivery → exception → in_transit ends in transit in any arrival order', () => {
    const chain = [fe('out_for_delivery', T + MIN), fe('exception', T + 2 * MIN), fe('in_transit', T + 3 * MIN)];
    const clean = foldHistory('TN', 'ups', chain).projection;
    expect(clean.status).toBe('in_transit');
    // in_transit first looks like a step back from out_for_delivery when that arrives later.
    expect(live([chain[2], chain[0], chain[1]] as FoldEvent[])).toEqual(clean);
    expect(live([chain[1], chain[2], chain[0]] as FoldEvent[])).toEqual(clean);
  });

  it('keeps the carrier promise from the last applied event that carried one', () => {
    const { projection } = foldHistory('TN', 'ups', [fe('picked_up', T, { estimatedDeliveryAt: T + 86_400_000 }), fe('in_transit', T + MIN)]);
    expect(projection.carrierPromise).toBe(T + 86_400_000);
  });

  describe('a number the carrier recycles', () => {
    const DAY = 86_400_000;
    const first = [fe('picked_up', T, { location: { city: 'A' } }), fe('in_transit', T + MIN), fe('delivered', T + 2 * MIN, { estimatedDeliveryAt: T + DAY })];

    it('starts a new parcel at a journey scan after a long silence: its own status, milestones and scans', () => {
      const again = T + 2 * MIN + REUSED_NUMBER_GAP_MS + DAY;
      const { projection, flags } = foldHistory('TN', 'ups', [...first, fe('label_created', again), fe('picked_up', again + MIN, { location: { city: 'B' } })]);
      expect(flags).toEqual([]);
      expect(projection).toMatchObject({ status: 'picked_up', reached: ['label_created', 'picked_up'], location: { city: 'B' }, carrierPromise: null, events: 5, cycle: 1, cycleStart: again });
      expect(projection.recent.map((r) => r.eventTime)).toEqual([again + MIN, again]);
    });

    it('within the silence it is a step backwards: flagged, not applied', () => {
      const soon = T + 2 * MIN + REUSED_NUMBER_GAP_MS - MIN;
      const { projection, flags } = foldHistory('TN', 'ups', [...first, fe('picked_up', soon)]);
      expect(projection).toMatchObject({ status: 'delivered', cycle: 0, cycleStart: null });
      expect(flags.map((f) => f.to)).toEqual(['picked_up']);
    });

    it('a parcel stuck for weeks that moves again is the same parcel, and a late scan of the old parcel stays in its cycle', () => {
      const stuck = foldHistory('TN', 'ups', [fe('in_transit', T), fe('exception', T + MIN), fe('in_transit', T + MIN + REUSED_NUMBER_GAP_MS + DAY)]).projection;
      expect(stuck).toMatchObject({ status: 'in_transit', cycle: 0, reached: ['in_transit', 'exception'] });
      const again = T + REUSED_NUMBER_GAP_MS + 10 * DAY;
      const all = [...first, fe('label_created', again), fe('out_for_delivery', T + 90 * MIN)];
      const clean = foldHistory('TN', 'ups', all).projection;
      expect(clean).toMatchObject({ status: 'label_created', cycle: 1, cycleStart: again, flagged: 1 });
      // The old parcel's late scan arrives after the new parcel's first: the same state.
      expect(live([all[0], all[1], all[2], all[3], all[4]] as FoldEvent[])).toEqual(clean);
    });
  });

  describe('a recycled number, against late scans', () => {
    const DAY = 86_400_000;
    const end = T + 2 * MIN;
    const old = [fe('picked_up', T), fe('returned_to_sender', end)];
    const fresh = [fe('label_created', end + 40 * DAY), fe('picked_up', end + 40 * DAY + MIN)];

    it("a late scan of the old parcel's end, dated within 30 days of the new parcel, does not undo its cycle", () => {
      const late = fe('returned_to_sender', end + 11 * DAY, { carrierStatus: 'RETURNED AGAIN' });
      const clean = foldHistory('TN', 'ups', [...old, late, ...fresh]).projection;
      expect(clean).toMatchObject({ status: 'picked_up', cycle: 1, cycleStart: end + 40 * DAY, previousSettledAt: end, settledAt: null });
      expect(live([...old, ...fresh, late])).toEqual(clean);
    });

    it('a parcel stuck in exception for weeks that moves on is the same parcel, and a journey that never ended is not split by a guess', () => {
      const moves = foldHistory('TN', 'ups', [fe('picked_up', T), fe('exception', T + MIN), fe('exception', T + 20 * DAY), fe('in_transit', T + 45 * DAY)]).projection;
      expect(moves).toMatchObject({ status: 'in_transit', cycle: 0, reached: ['picked_up', 'exception', 'in_transit'] });
      // A long journey: a destination carrier's 'information received' (label created) 35 days in is flagged, not a new parcel.
      const long = foldHistory('TN', 'ups', [fe('picked_up', T), fe('in_transit', T + DAY), fe('in_transit', T + 34 * DAY), fe('label_created', T + 35 * DAY)]);
      expect(long.projection).toMatchObject({ status: 'in_transit', cycle: 0 });
      expect(long.flags.map((f) => f.to)).toEqual(['label_created']);
    });

    it('a return trip that starts with a pickup or in transit 30+ days after the parcel arrived or was returned is the same parcel', () => {
      const fromPickupPoint = foldHistory('TN', 'ups', [fe('in_transit', T), fe('available_for_pickup', end), fe('in_transit', end + 31 * DAY), fe('returned_to_sender', end + 34 * DAY)]);
      expect(fromPickupPoint.projection).toMatchObject({ status: 'returned_to_sender', cycle: 0 });
      // Handed back to the carrier with a pickup scan (an access point's return), before or after an exception there.
      for (const way of [[fe('picked_up', end + 31 * DAY)], [fe('exception', end + 20 * DAY), fe('picked_up', end + 31 * DAY)]]) {
        const back = foldHistory('TN', 'ups', [fe('in_transit', T), fe('available_for_pickup', end), ...way, fe('returned_to_sender', end + 34 * DAY)]);
        expect(back.projection).toMatchObject({ status: 'returned_to_sender', cycle: 0 });
      }
      // A delivered parcel picked up again weeks later (a return under the same number) is not a new parcel either.
      expect(foldHistory('TN', 'ups', [fe('delivered', end), fe('picked_up', end + 40 * DAY)]).projection).toMatchObject({ status: 'delivered', cycle: 0 });
      // Returned when the return began; its trip's scans come weeks later: flagged, the return stays on view.
      const longReturn = foldHistory('TN', 'ups', [fe('in_transit', T), fe('returned_to_sender', end), fe('in_transit', end + 31 * DAY), fe('delivered', end + 45 * DAY)]);
      expect(longReturn.projection).toMatchObject({ status: 'returned_to_sender', cycle: 0 });
      expect(longReturn.flags.map((f) => f.to)).toEqual(['in_transit', 'delivered']);
    });

    it('a pickup-point parcel on its slow way back (exception, then in transit 30+ days after arrival) is the same parcel', () => {
      const { projection } = foldHistory('TN', 'ups', [fe('in_transit', T), fe('available_for_pickup', end), fe('exception', end + 20 * DAY), fe('in_transit', end + 31 * DAY), fe('returned_to_sender', end + 33 * DAY)]);
      expect(projection).toMatchObject({ status: 'returned_to_sender', cycle: 0, reached: ['in_transit', 'available_for_pickup', 'exception', 'returned_to_sender'] });
    });

    it('a late arrival at a pickup point of the old parcel, before or after its delivery, does not undo the new cycle', () => {
      for (const at of [end - 30 * MIN, end + 30 * MIN]) {
        const old2 = [fe('picked_up', T - DAY), fe('out_for_delivery', T), fe('delivered', end)];
        const late = fe('available_for_pickup', at);
        const clean = foldHistory('TN', 'ups', [...old2, late, ...fresh]).projection;
        expect(clean).toMatchObject({ status: 'picked_up', cycle: 1, cycleStart: end + 40 * DAY });
        expect(live([...old2, ...fresh, late])).toEqual(clean);
      }
    });

    it('a parcel whose tracking ends at a pickup point (never collected) is followed by the next parcel', () => {
      const { projection } = foldHistory('TN', 'ups', [fe('in_transit', T), fe('available_for_pickup', end), ...fresh]);
      expect(projection).toMatchObject({ status: 'picked_up', cycle: 1, previousSettledAt: end });
    });
  });

  it("finds a state's own parcel again in a re-fold whose late scans renumbered it or moved its start", () => {
    const DAY = 24 * 60 * MIN;
    const ours = [fe('label_created', T), fe('picked_up', T + DAY), fe('available_for_pickup', T + 2 * DAY)];
    const first = foldHistory('TN', 'ups', ours).projection;
    // An even older parcel's delivery: ours becomes the second parcel.
    const renumbered = foldHistory('TN', 'ups', [fe('delivered', T - 40 * DAY), ...ours]);
    expect(renumbered.projection).toMatchObject({ cycle: 1, cycleStart: T });
    expect(parcelHolding(renumbered.cycleStarts, first.lastAppliedKey)).toBe(1);
    expect(parcelHolding(renumbered.cycleStarts, null)).toBe(0);

    // The next parcel under way; then its reprinted label an hour before its first, its return and a third label.
    const next = [fe('label_created', T + 40 * DAY), fe('picked_up', T + 41 * DAY)];
    const second = foldHistory('TN', 'ups', [...ours, ...next]).projection;
    expect(second).toMatchObject({ cycle: 1, cycleStart: T + 40 * DAY });
    const later = foldHistory('TN', 'ups', [...ours, ...next, fe('label_created', T + 40 * DAY - 60 * MIN, { carrierStatus: 'REPRINT' }), fe('returned_to_sender', T + 43 * DAY), fe('label_created', T + 80 * DAY)]);
    const own = parcelHolding(later.cycleStarts, second.lastAppliedKey);
    expect(own).toBe(1);
    expect(later.cycleEnds[own]).toMatchObject({ status: 'returned_to_sender', cycleStart: T + 40 * DAY - 60 * MIN });
    expect(later.projection).toMatchObject({ cycle: 2, status: 'label_created' });
  });

  it('tells each parcel of a re-fold against what it was: an end that splits a parcel, and a parcel all new', () => {
    const DAY = 24 * 60 * MIN;
    const old = [fe('label_created', T), fe('picked_up', T + DAY), fe('label_created', T + 35 * DAY, { carrierStatus: 'NEXT' }), fe('in_transit', T + 36 * DAY)];
    const before = foldHistory('TN', 'ups', old).projection;
    expect(before).toMatchObject({ cycle: 0, status: 'in_transit', flagged: 1 });
    const late = fe('returned_to_sender', T + 2 * DAY);
    const all = [...old, late];
    const moves = movesRefolded(before, foldHistory('TN', 'ups', old), foldHistory('TN', 'ups', all), all.map((e) => e.key), new Set([late.key]));
    // The old parcel is the earlier piece's: its return is news; the later piece is a new parcel.
    expect(moves.map((m) => [m.before.status, m.after.status, m.newParcel])).toEqual([
      ['in_transit', 'returned_to_sender', false],
      [null, 'in_transit', true],
    ]);
    expect(moves[0]?.next).toBe(moves[1]?.after);
  });

  it("a late scan of an ended journey's arrival, collection or return never undoes the next parcel's cycle (property)", () => {
    const HOUR = 60 * MIN;
    const ends = ['delivered', 'available_for_pickup', 'collected', 'returned_to_sender'] as const;
    const scanAt = (from: number, to: number) => fc.record({ status: fc.constantFrom(...trackingStatuses), hour: fc.integer({ min: from, max: to }) });
    fc.assert(
      fc.property(
        fc.array(scanAt(0, 240), { maxLength: 10 }),
        fc.record({ status: fc.constantFrom(...ends), hour: fc.integer({ min: 0, max: 240 }) }),
        fc.constant('label_created' as const),
        fc.array(scanAt(1_000, 1_200), { maxLength: 10 }),
        fc.record({ status: fc.constantFrom(...ends), hour: fc.integer({ min: 0, max: 240 + 29 * 24 }) }),
        (old, end, start, fresh, late) => {
          // The old parcel ended by hour 240; the new one starts 30+ days later (hour 961 on).
          const at = (r: { status: TrackingStatus; hour: number }, i: number, tag: string) => fe(r.status, T + r.hour * HOUR, { carrierStatus: `${tag}${String(i)}` });
          const history = [...old.map((r, i) => at(r, i, 'O')), at(end, 0, 'END'), fe(start, T + 961 * HOUR), ...fresh.map((r, i) => at(r, i, 'N'))];
          const before = foldHistory('TN', 'ups', history).projection;
          const after = foldHistory('TN', 'ups', [...history, at(late, 0, 'LATE')]).projection;
          expect(before.cycle).toBeGreaterThanOrEqual(1);
          expect(after.cycle).toBe(before.cycle);
          expect(after.cycleStart).toBe(before.cycleStart);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('ends in the same projection live, in any arrival order, as the fold of the clean stream (property)', () => {
    const arbEvent = fc.record({
      status: fc.constantFrom(...trackingStatuses),
      minute: fc.integer({ min: 0, max: 400 }),
      city: fc.constantFrom('A', 'B', 'C'),
      // Some scans come after a silence long enough to be a recycled number's next parcel.
      parcel: fc.constantFrom(0, 0, 1),
    });
    fc.assert(
      fc.property(fc.array(arbEvent, { minLength: 1, maxLength: 25 }), fc.integer(), (raw, seed) => {
        const events = raw.map((r) => fe(r.status, T + r.parcel * (REUSED_NUMBER_GAP_MS + 86_400_000) + r.minute * MIN, { location: { city: r.city } }));
        const unique = [...new Map(events.map((e) => [e.hash, e])).values()];
        const clean = foldHistory('TN', 'ups', unique).projection;
        const shuffled = fc.sample(fc.shuffledSubarray(unique, { minLength: unique.length, maxLength: unique.length }), { numRuns: 1, seed })[0] as FoldEvent[];
        expect(live(shuffled)).toEqual(clean);
      }),
      { numRuns: 500 },
    );
  });
});
