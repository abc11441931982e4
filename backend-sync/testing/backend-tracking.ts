import type { NotificationRecord } from '../store/records.js';
import type { CanonicalTrackingEvent } from '../tracking/tracking-event.js';
import type { BackendFixture } from './backend-fixture.js';

// Carrier scans into a whole backend, for the tests that follow a shipment through its
// order, locker and notices: one payload accepted as a webhook would be, then applied.

/** Accepts canonical events as one payload and applies them. */
export async function acceptAndApply(f: BackendFixture, events: CanonicalTrackingEvent[]): Promise<void> {
  await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, events);
  await f.services.tracking.applier.drain();
}

/** A scan time `minutes` after ten hours before the fixture's now (so ten hours of scans stay in the past). */
export function scanAt(f: BackendFixture, minutes: number): number {
  return f.clock.now() - 10 * 3_600_000 + minutes * 60_000;
}

/** The notices of one kind about one shipment. */
export async function noticesOf(f: BackendFixture, kind: string, shipmentId: string): Promise<NotificationRecord[]> {
  return (await f.store.notifications.list({ kind })).filter((n) => n.payload['shipmentId'] === shipmentId);
}
