import type { PanelEvent } from './panel-events.js';

// The last N streamed events with their stream ids, so a page that lost its connection
// gets what it missed (SSE Last-Event-ID) instead of a silent hole. Bounded: a page away
// for longer than the ring holds is told it missed events (`complete: false`), and so is a
// page holding an id beyond the newest (one from before a simulator restart; an old id the
// new run has already passed cannot be told apart: ids are not run-scoped).

export interface RingEntry {
  id: number;
  event: PanelEvent;
}

export class EventRing {
  private readonly entries: RingEntry[] = [];
  private lastId = 0;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
  }

  push(event: PanelEvent): RingEntry {
    this.lastId += 1;
    const entry = { id: this.lastId, event };
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.shift();
    return entry;
  }

  get newestId(): number {
    return this.lastId;
  }

  /**
   * Whether `id` is one this ring issued (0: the page saw nothing yet). An id beyond the
   * newest was not: it comes from an earlier run (ids restart from 1 with the simulator), so
   * it says nothing about what the page saw of this one.
   */
  issued(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id <= this.lastId;
  }

  /**
   * Entries after `afterId` (of one locker, or all), oldest first. `complete` is false when
   * some of them already fell out of the ring, or when `afterId` was never issued (then
   * every entry held is returned: nothing of this run is known to have been seen).
   */
  since(afterId: number, lockerId?: string): { entries: RingEntry[]; complete: boolean } {
    const known = this.issued(afterId);
    const after = known ? afterId : 0;
    const oldest = this.entries[0]?.id ?? this.lastId + 1;
    const complete = known && (after >= oldest - 1 || after >= this.lastId);
    const entries = this.entries.filter((e) => e.id > after && (lockerId === undefined || e.event.lockerId === lockerId));
    return { entries, complete };
  }
}
