import type { PanelEvent } from './panel-events.js';

// The last N streamed events with their stream ids, so a page that lost its connection
// gets what it missed (SSE Last-Event-ID) instead of a silent hole. Bounded: a page away
// for longer than the ring holds is told it missed events (`complete: false`).

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
   * Entries after `afterId` (of one locker, or all), oldest first. `complete` is false when
   * some of them already fell out of the ring.
   */
  since(afterId: number, lockerId?: string): { entries: RingEntry[]; complete: boolean } {
    const oldest = this.entries[0]?.id ?? this.lastId + 1;
    const complete = afterId >= oldest - 1 || afterId >= this.lastId;
    const entries = this.entries.filter((e) => e.id > afterId && (lockerId === undefined || e.event.lockerId === lockerId));
    return { entries, complete };
  }
}
