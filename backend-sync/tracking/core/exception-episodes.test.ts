import { describe, expect, it } from 'vitest';
import type { CanonicalTrackingEvent, TrackingStatus } from '../tracking-event.js';
import { normalisedHash, orderKey } from './event-identity.js';
import { episodeNoticeKey, newEpisodes } from './exception-episodes.js';
import { emptyProjection, foldHistory, foldStep, isInOrder, TrackingProjection, type FoldEvent } from './tracking-fold.js';

// Which exception episodes are told, on the applier's own path (steps when in order, a
// refold when late): each once, a stale backfilled one never, the current one always.

const T = 1_800_000_000_000;
const MIN = 60_000;

function fe(status: TrackingStatus, minute: number, over: Partial<CanonicalTrackingEvent> = {}): FoldEvent {
  const event: CanonicalTrackingEvent = { trackingNumber: 'TN', carrier: 'ups', status, carrierStatus: status.toUpperCase(), eventTime: T + minute * MIN, ...over };
  const hash = normalisedHash(event);
  return { key: orderKey(event, hash), hash, event };
}

/** Applies batches as the applier does and collects the episodes told after each. */
function tell(batches: FoldEvent[][], start: TrackingProjection = emptyProjection('TN', 'ups'), earlier: FoldEvent[] = []): { told: string[][]; last: TrackingProjection } {
  let p = start;
  const seen = [...earlier];
  const told: string[][] = [];
  for (const batch of batches) {
    seen.push(...batch);
    const sorted = [...batch].sort((a, b) => (a.key < b.key ? -1 : 1));
    let next = p;
    if (isInOrder(p, sorted)) for (const e of sorted) next = foldStep(next, e).next;
    else next = foldHistory('TN', 'ups', seen).projection;
    told.push(newEpisodes(p, next));
    p = next;
  }
  return { told, last: p };
}

describe('exception episodes told', () => {
  it('tells each episode once when scans come in order, and not a repeated exception scan', () => {
    const a = fe('exception', 10);
    const b = fe('exception', 30);
    const { told } = tell([[fe('picked_up', 0)], [a], [fe('exception', 15)], [fe('in_transit', 20)], [b]]);
    expect(told).toEqual([[], [a.key], [], [], [b.key]]);
  });

  it('does not tell an episode the parcel had already recovered from when its scans are backfilled', () => {
    const now = fe('exception', 30, { carrierReason: 'address unclear' });
    const old = fe('exception', 10, { carrierReason: 'weather' });
    const { told, last } = tell([[fe('picked_up', 0)], [now], [old, fe('in_transit', 20)]]);
    expect(last.exceptionEpisodes).toEqual([old.key, now.key]);
    expect(told).toEqual([[], [now.key], []]);
  });

  it('tells a new episode after a refold dropped one', () => {
    const a = fe('exception', 10);
    const b = fe('exception', 30);
    const c = fe('exception', 50, { carrierReason: 'damaged' });
    const { told, last } = tell([[a, fe('in_transit', 20), b], [fe('delivered', 25)], [fe('available_for_pickup', 40)], [c]]);
    expect(told[0]).toEqual([a.key, b.key]);
    expect(told[1]).toEqual([]);
    expect(last.exceptionEpisodes).toEqual([a.key, c.key]);
    expect(told[3]).toEqual([c.key]);
  });

  it('tells the episode the parcel is in even when its scans arrive after a newer one was applied', () => {
    // The pickup scan is applied first; the exception before it makes it illegal once it arrives.
    const stuck = fe('exception', 20);
    const { told, last } = tell([[fe('picked_up', 30)], [fe('in_transit', 10), stuck]]);
    expect(last.status).toBe('exception');
    expect(told[1]).toEqual([stuck.key]);
  });

  it('keys the first episode as exception notices were keyed before episodes were kept, the others by their opening scan', () => {
    const a = fe('exception', 10);
    const b = fe('exception', 30);
    const { last } = tell([[a, fe('in_transit', 20), b]]);
    expect(episodeNoticeKey('TN', a.key, last)).toBe('tracking.exception:TN');
    expect(episodeNoticeKey('TN', b.key, last)).toBe(`tracking.exception:TN:${b.hash}`);
  });

  it('tells a projection stored before episodes were kept only what it did not tell then', () => {
    const first = fe('exception', 10);
    const history = [fe('picked_up', 0), first, fe('in_transit', 20)];
    const { exceptionEpisodes: _drop, ...stored } = foldHistory('TN', 'ups', history).projection;
    const legacy = TrackingProjection.parse(stored);
    // A new episode in order: told, and not under the first episode's key (already used).
    const again = fe('exception', 40);
    const inOrder = tell([[again]], legacy, history);
    expect(inOrder.told).toEqual([[again.key]]);
    expect(episodeNoticeKey('TN', again.key, inOrder.last)).toBe(`tracking.exception:TN:${again.hash}`);
    // A late scan refolds it: the old episode is not news, and nothing is told.
    const refold = tell([[fe('label_created', -5)]], legacy, history);
    expect(refold.told).toEqual([[]]);
    expect(refold.last.exceptionEpisodes).toEqual([first.key]);
  });
});
