// At most one code-set snapshot in flight per locker within a window. A locker that sees a
// gap, a digest mismatch or a resync command asks for a snapshot, and may ask again before
// the first arrives (retries, several triggers, a flapping link); each answer used to bump
// the set's version and sign and publish the whole set again. A snapshot replaces the
// locker's set, so the one in flight answers every request made while it travels.
//
// A request inside the window is remembered, not dropped: if the locker has not acked the
// snapshot's version when the window ends, the sweeper sends one more (the first may have
// been lost or rejected). An ack of the snapshot's version ends the episode early.

interface InFlight {
  sentAt: number;
  toVersion?: number;
  /** Highest version a coalesced request reported; absent when none came. */
  pending?: number;
}

export class SnapshotCoalescer {
  private readonly inFlight = new Map<string, InFlight>();

  constructor(private readonly windowMs: number) {}

  /** True: send a snapshot now (recorded as in flight). False: coalesced into the one in flight. */
  admit(lockerId: string, theirVersion: number, now: number): boolean {
    const f = this.inFlight.get(lockerId);
    if (f !== undefined && now - f.sentAt < this.windowMs) {
      f.pending = Math.max(f.pending ?? theirVersion, theirVersion);
      return false;
    }
    this.inFlight.set(lockerId, { sentAt: now });
    return true;
  }

  /** The snapshot admitted last for this locker went out with this version. */
  sent(lockerId: string, toVersion: number): void {
    const f = this.inFlight.get(lockerId);
    if (f !== undefined) f.toVersion = toVersion;
  }

  /** The locker applied a set at `version`: a snapshot at or below it is no longer in flight. */
  acked(lockerId: string, version: number): void {
    const f = this.inFlight.get(lockerId);
    if (f?.toVersion !== undefined && version >= f.toVersion) this.inFlight.delete(lockerId);
  }

  /** Requests coalesced into a snapshot whose window has ended unacknowledged; forgets finished windows. */
  due(now: number): Array<{ lockerId: string; theirVersion: number }> {
    const out: Array<{ lockerId: string; theirVersion: number }> = [];
    for (const [lockerId, f] of this.inFlight) {
      if (now - f.sentAt < this.windowMs) continue;
      this.inFlight.delete(lockerId);
      if (f.pending !== undefined) out.push({ lockerId, theirVersion: f.pending });
    }
    return out;
  }
}
