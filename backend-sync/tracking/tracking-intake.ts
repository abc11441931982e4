import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { BackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { CanonicalTrackingEvent, type IntakeReceipt, type RawTrackingPayload, type TrackingIntake } from './tracking-event.js';

// Accept, persist, acknowledge: the raw payload and its events go into the database in one
// transaction and the caller gets its receipt; folding them into state is the applier's
// job, later (tracking-applier.ts). So a provider replaying a day of events costs the API
// two inserts per request, never the apply work. Joins the caller's transaction when there
// is one (a locker deposit adds its event atomically with the deposit).

const Events = z.array(CanonicalTrackingEvent);

export function newTrackingId(prefix: 'tpl' | 'tdl'): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

export class StoreTrackingIntake implements TrackingIntake {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    logger: Logger,
    /** Told after each accepted payload (the applier's wake-up); never awaited. */
    private readonly onAccepted: () => void = () => undefined,
  ) {
    this.log = logger.child({ component: 'tracking-intake' });
  }

  async accept(raw: RawTrackingPayload, events: readonly CanonicalTrackingEvent[], order?: { revisedAt: number }): Promise<IntakeReceipt> {
    // Adapters build events from validated payloads; parsing again normalises carrier codes
    // and refuses anything that slipped through, before it is stored.
    const parsed = Events.safeParse(events);
    if (!parsed.success) throw new BackendError('INVALID_INPUT', `tracking events: ${z.prettifyError(parsed.error)}`);
    const payloadId = newTrackingId('tpl');
    // Never after the payload was received: a time in the future would order it after revisions yet to come.
    const revised = order === undefined ? {} : { revisedAt: Math.min(order.revisedAt, raw.receivedAt) };
    // Grouped: concurrent webhook requests share one commit (SQLite group commit, decision
    // 0011); inside a caller's transaction this is a savepoint of it.
    await this.store.transactionGrouped(async () => {
      await this.store.tracking.insertPayload({ id: payloadId, source: raw.source, body: raw.body, receivedAt: raw.receivedAt });
      await this.store.tracking.enqueue(parsed.data.map((event) => ({ trackingNumber: event.trackingNumber, payloadId, source: raw.source, event, receivedAt: raw.receivedAt, ...revised })));
    });
    this.log.debug({ payloadId, source: raw.source, events: parsed.data.length }, 'tracking.accepted');
    this.onAccepted();
    return { payloadId, received: parsed.data.length };
  }

  async deadLetter(raw: RawTrackingPayload, reason: string): Promise<{ deadLetterId: string }> {
    const deadLetterId = newTrackingId('tdl');
    await this.store.tracking.deadLetter({ id: deadLetterId, source: raw.source, body: raw.body, reason, receivedAt: raw.receivedAt });
    this.log.warn({ deadLetterId, source: raw.source, reason }, 'tracking.dead_lettered');
    return { deadLetterId };
  }
}
