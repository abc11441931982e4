import type { CanonicalTrackingEvent, IntakeReceipt, RawTrackingPayload, TrackingIntake } from '../../tracking-event.js';

// A TrackingIntake that keeps what it is given, for tests of sources (the real one, with
// its store, belongs to the tracking core). `failNextAccept` makes the next accept reject,
// as a database outage would.

export class RecordingIntake implements TrackingIntake {
  readonly accepted: Array<{ raw: RawTrackingPayload; events: readonly CanonicalTrackingEvent[] }> = [];
  readonly deadLetters: Array<{ raw: RawTrackingPayload; reason: string }> = [];
  private failures = 0;

  failNextAccept(count = 1): void {
    this.failures += count;
  }

  accept(raw: RawTrackingPayload, events: readonly CanonicalTrackingEvent[]): Promise<IntakeReceipt> {
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new Error('intake unavailable'));
    }
    this.accepted.push({ raw, events });
    return Promise.resolve({ payloadId: `p${this.accepted.length}`, received: events.length });
  }

  deadLetter(raw: RawTrackingPayload, reason: string): Promise<{ deadLetterId: string }> {
    this.deadLetters.push({ raw, reason });
    return Promise.resolve({ deadLetterId: `d${this.deadLetters.length}` });
  }

  /** Every accepted event, in order. */
  events(): CanonicalTrackingEvent[] {
    return this.accepted.flatMap((a) => a.events);
  }
}
