import { describe, expect, it } from 'vitest';
import { EventRing } from './event-ring.js';
import type { PanelEvent } from './panel-events.js';

const event = (lockerId: string, n: number): PanelEvent => ({ type: 'code-set', version: n, lockerId, at: n });

describe('EventRing', () => {
  it('replays only the events after the last id the page saw, for its locker', () => {
    const ring = new EventRing(10);
    ring.push(event('a', 1));
    ring.push(event('b', 2));
    ring.push(event('a', 3));
    const { entries, complete } = ring.since(1, 'a');
    expect(entries.map((e) => e.id)).toEqual([3]);
    expect(complete).toBe(true);
    expect(ring.since(0).entries.map((e) => e.id)).toEqual([1, 2, 3]);
  });

  it('says the replay is incomplete once the missed events fell out of the ring', () => {
    const ring = new EventRing(2);
    for (let n = 1; n <= 5; n++) ring.push(event('a', n));
    expect(ring.since(1)).toEqual({ entries: [{ id: 4, event: event('a', 4) }, { id: 5, event: event('a', 5) }], complete: false });
    expect(ring.since(3).complete).toBe(true);
    expect(ring.since(5)).toEqual({ entries: [], complete: true });
  });

  it('treats an id it never issued (from before a restart) as unknown: all it holds, incomplete', () => {
    const ring = new EventRing(2);
    for (let n = 1; n <= 3; n++) ring.push(event('a', n));
    expect(ring.issued(3)).toBe(true);
    expect(ring.issued(0)).toBe(true);
    expect(ring.issued(4)).toBe(false);
    expect(ring.since(57)).toEqual({ entries: [{ id: 2, event: event('a', 2) }, { id: 3, event: event('a', 3) }], complete: false });
    expect(new EventRing(5).since(1)).toEqual({ entries: [], complete: false });
  });

  it('keeps at most its capacity', () => {
    const ring = new EventRing(3);
    for (let n = 1; n <= 100; n++) ring.push(event('a', n));
    expect(ring.since(0).entries).toHaveLength(3);
    expect(ring.newestId).toBe(100);
  });
});
