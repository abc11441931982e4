import { orderKeyParts } from './event-identity.js';
import type { TrackingProjection } from './tracking-fold.js';

// Which exception episodes a customer hears about when a projection changes. Pure.
// An episode is known by its opening scan (TrackingProjection.exceptionEpisodes), so a
// refold that adds or drops one leaves the others' identities alone.

/**
 * The episodes to tell: new to this projection, and news — opened by a scan newer than
 * everything applied before, or the one the parcel is in now. A backfilled episode the
 * parcel had already recovered from is not told; one a refold dropped and a later scan
 * opened again is a new episode (another opening scan).
 */
export function newEpisodes(before: TrackingProjection, after: TrackingProjection): string[] {
  const current = after.status === 'exception' ? after.exceptionEpisodes.at(-1) : undefined;
  return after.exceptionEpisodes.filter((k) => !before.exceptionEpisodes.includes(k) && (before.lastAppliedKey === null || k > before.lastAppliedKey || k === current));
}

/**
 * The outbox dedupe key of an episode's notice. The first episode keeps the key an
 * exception notice had before episodes were kept apart (so one told then is not told
 * again); the others are keyed by their opening scan.
 */
export function episodeNoticeKey(trackingNumber: string, opening: string, after: TrackingProjection): string {
  return opening === after.exceptionEpisodes[0] ? `tracking.exception:${trackingNumber}` : `tracking.exception:${trackingNumber}:${orderKeyParts(opening).hash}`;
}
