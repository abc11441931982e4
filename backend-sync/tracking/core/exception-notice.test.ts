import { describe, expect, it } from 'vitest';
import type { CanonicalTrackingEvent, TrackingStatus } from '../tracking-event.js';
import { normalisedHash, orderKey } from './event-identity.js';
import { exceptionNotice } from './exception-notice.js';
import { emptyProjection, foldHistory, foldStep, isInOrder, type FoldEvent, type TrackingProjection } from './tracking-fold.js';

// When a customer hears of trouble, on the applier's own path (steps when in order, a
// refold when late): when the parcel becomes stuck, once per trouble (keyed by when it
// began), never for trouble already over when its scans arrived, and always when it ends
// stuck.

const T = 1_800_000_000_000;
const MIN = 60_000;

function fe(status: TrackingStatus, minute: number, over: Partial<CanonicalTrackingEvent> = {}): FoldEvent {
  const event: CanonicalTrackingEvent = { trackingNumber: 'TN', carrier: 'ups', status, carrierStatus: status.toUpperCase(), eventTime: T + minute * MIN, ...over };
  const hash = normalisedHash(event);
  return { key: orderKey(event, hash), hash, event };
}

/** Applies batches as the applier does; the dedupe keys of the notices after each (at most one). */
function tell(batches: FoldEvent[][]): { told: Array<string | undefined>; last: TrackingProjection } {
  let p = emptyProjection('TN', 'ups');
  const seen: FoldEvent[] = [];
  const told: Array<string | undefined> = [];
  for (const batch of batches) {
    seen.push(...batch);
    const sorted = [...batch].sort((a, b) => (a.key < b.key ? -1 : 1));
    let next = p;
    if (isInOrder(p, sorted)) for (const e of sorted) next = foldStep(next, e).next;
    else next = foldHistory('TN', 'ups', seen).projection;
    told.push(exceptionNotice(p, next)?.key);
    p = next;
  }
  return { told, last: p };
}

const keyOf = (e: FoldEvent): string => `tracking.exception:TN:${String(e.event.eventTime)}`;

describe('exception notices', () => {
  it('tells each time the parcel becomes stuck, not for more scans of the same trouble', () => {
    const a = fe('exception', 10);
    const b = fe('exception', 30);
    const { told } = tell([[fe('picked_up', 0)], [a], [fe('exception', 15)], [fe('in_transit', 20)], [b]]);
    expect(told).toEqual([undefined, keyOf(a), undefined, undefined, keyOf(b)]);
  });

  it('tells a parcel that recovered and got stuck again within one payload', () => {
    const first = fe('exception', 10, { carrierReason: 'address unclear' });
    const again = fe('exception', 30, { carrierReason: 'damaged' });
    const { told, last } = tell([[fe('picked_up', 0), first], [fe('in_transit', 20), again, fe('exception', 35)]]);
    expect(last.status).toBe('exception');
    expect(told).toEqual([keyOf(first), keyOf(again)]);
  });

  it('tells a recovery scanned at the very time of the trouble, when the fold orders it after', () => {
    // Same time: out for delivery sorts after exception (tie rank), so the parcel had recovered.
    const again = fe('exception', 15);
    const { told } = tell([[fe('picked_up', 0), fe('exception', 10)], [fe('out_for_delivery', 10), again]]);
    expect(told[1]).toBe(keyOf(again));
    // In transit at that time sorts before it: the trouble went on.
    expect(tell([[fe('picked_up', 0), fe('exception', 10)], [fe('in_transit', 10), fe('exception', 15)]]).told[1]).toBeUndefined();
  });

  it('names the trouble after its first scan, however many scans of it one payload holds', () => {
    const first = fe('exception', 10);
    const { told } = tell([[fe('picked_up', 0)], [first, fe('exception', 40), fe('exception', 55)]]);
    expect(told[1]).toBe(keyOf(first));
    const once = exceptionNotice(emptyProjection('TN', 'ups'), foldHistory('TN', 'ups', [fe('picked_up', 0), first, fe('exception', 40)]).projection);
    expect(once).toEqual({ key: keyOf(first), since: T + 10 * MIN, lastScanAt: T + 40 * MIN });
  });

  it('does not tell again when an earlier scan of the same trouble arrives late', () => {
    const stuck = fe('exception', 30);
    const { told } = tell([[fe('picked_up', 0)], [fe('exception', 10)], [fe('in_transit', 20)], [stuck], [fe('exception', 25, { carrierReason: 'other wording' })]]);
    expect(told.at(-1)).toBeUndefined();
    expect(told.filter((k) => k !== undefined)).toHaveLength(2);
  });

  it('does not tell trouble the parcel had recovered from before its scans arrived', () => {
    const { told, last } = tell([[fe('picked_up', 0)], [fe('out_for_delivery', 30)], [fe('exception', 10), fe('in_transit', 20)]]);
    expect(last.status).toBe('out_for_delivery');
    expect(told).toEqual([undefined, undefined, undefined]);
    // Nor one that began and ended inside one payload.
    expect(tell([[fe('picked_up', 0), fe('exception', 10), fe('in_transit', 20)]]).told).toEqual([undefined]);
  });

  it('tells a parcel stuck again after a late scan took it out of its first trouble', () => {
    // A late delivered scan makes the first exception an illegal step; later the parcel,
    // waiting in a locker, is stuck again.
    const again = fe('exception', 50, { carrierReason: 'damaged' });
    const { told, last } = tell([[fe('picked_up', 0)], [fe('exception', 10)], [fe('delivered', 5)], [fe('available_for_pickup', 40)], [again]]);
    expect(told[1]).toBe(keyOf(fe('exception', 10)));
    expect(told[4]).toBe(keyOf(again));
    expect(last.status).toBe('exception');
  });

  it('tells a parcel stuck now whose scans arrived after a newer one that they make illegal', () => {
    const stuck = fe('exception', 20);
    const { told, last } = tell([[fe('picked_up', 30)], [fe('in_transit', 10), stuck]]);
    expect(last.status).toBe('exception');
    expect(told[1]).toBe(keyOf(stuck));
  });
});
