import { z } from 'zod';
import { BackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { CanonicalTrackingBatch, type IntakeReceipt, type TrackingIntake, type TrackingSource } from './tracking-event.js';

// Resending a dead letter once its cause is fixed (POST /admin/tracking/dead-letters/:id/replay).
// It goes back through the intake under the source it was stored with: a locker's door event
// stays the locker's (history source `locker`, so the doors rule sees it and its
// `locker:` id dedupes it against the original), which POST /tracking/events cannot do (its
// caller is a carrier, every event it takes is `canonical`). The dead letter is taken in the
// same transaction as the accept: a replay that is refused leaves it in place.

export type ReplayReceipt = IntakeReceipt & { deadLetterId: string; source: TrackingSource };

export async function replayDeadLetter(d: { store: Store; intake: TrackingIntake; logger: Logger; now: () => number }, deadLetterId: string): Promise<ReplayReceipt> {
  const log = d.logger.child({ component: 'tracking-dead-letter-replay' });
  const receipt = await d.store.transaction(async () => {
    const dead = await d.store.tracking.takeDeadLetter(deadLetterId);
    if (dead === undefined) throw new BackendError('NOT_FOUND', 'dead letter not found', { deadLetterId });
    // The applier keeps events as a canonical batch; a provider's or a carrier API's raw
    // body (refused at the door) has no canonical events to resend: the provider resends those.
    const batch = CanonicalTrackingBatch.safeParse(parseJson(dead.body));
    if (!batch.success) throw new BackendError('CONFLICT', `dead letter is not a canonical batch and cannot be replayed: ${z.prettifyError(batch.error)}`.slice(0, 1_000), { deadLetterId, source: dead.source });
    const accepted = await d.intake.accept({ source: dead.source, body: dead.body, receivedAt: d.now() }, batch.data.events);
    return { ...accepted, deadLetterId, source: dead.source };
  });
  log.info({ deadLetterId, source: receipt.source, payloadId: receipt.payloadId, events: receipt.received }, 'tracking.dead_letter_replayed');
  return receipt;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
