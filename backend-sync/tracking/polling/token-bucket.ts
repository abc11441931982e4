import type { CarrierRateLimit } from './carrier-tracking-client.js';

// A token bucket per carrier, pure: `take` is a function of (bucket, now) returning the new
// bucket and either a token or how long until one. Refill is continuous at
// requestsPerSecond up to `burst`. A carrier's 429 pauses the bucket until its Retry-After
// and leaves it one token, so one request goes out when the pause ends, not a burst.
//
// The bucket is kept where every instance reads it (carrier-budget-port.ts), so several
// backend instances polling one carrier share its rate; a 429 that still comes back (a
// limit set too high) is respected (pause + backoff), so an overshoot costs time, not bans.

/**
 * A clock that went back further than this was stepped (NTP, a VM restored): the bucket
 * re-anchors to the new time, keeping its tokens; otherwise it would refill nothing until
 * the clock caught up with updatedAt, up to the length of the step. A smaller gap is what
 * instances sharing one bucket disagree by, and is taken as no time passed: re-anchoring
 * on it would hand the skew out as extra tokens each time two instances alternate.
 */
export const clockStepBackMs = 1_000;

/**
 * No pause reaches further ahead than this from now. Retry-After is bounded well below it
 * by the policy; a pause stored beyond it (an unbounded one from before, a clock that ran
 * ahead and was set back) would stop the carrier for every instance.
 */
export const maxPauseMs = 24 * 3_600_000;

export interface TokenBucket {
  tokens: number;
  /** The last time the bucket was moved (a pause: when it was set). */
  updatedAt: number;
  /** No token before this instant (a carrier's Retry-After). */
  pausedUntil: number;
}

export function newBucket(limit: CarrierRateLimit, now: number): TokenBucket {
  return { tokens: limit.burst, updatedAt: now, pausedUntil: 0 };
}

export type TakeResult = { ok: true; bucket: TokenBucket } | { ok: false; bucket: TokenBucket; waitMs: number };

/**
 * The bucket on the clock's current timeline. After a step back it restarts from now with
 * its tokens, and a pause keeps at most the length it had when last written: the step's
 * size is unknown, so that is the most the carrier can still be owed.
 */
function onTimeline(b: TokenBucket, now: number): TokenBucket {
  let r = b;
  if (now < r.updatedAt - clockStepBackMs) r = { tokens: r.tokens, updatedAt: now, pausedUntil: now + Math.max(0, r.pausedUntil - r.updatedAt) };
  const latest = now + maxPauseMs;
  return r.pausedUntil <= latest ? r : { tokens: r.tokens, updatedAt: Math.min(r.updatedAt, latest), pausedUntil: latest };
}

function refill(b: TokenBucket, limit: CarrierRateLimit, now: number): TokenBucket {
  const from = Math.max(b.updatedAt, b.pausedUntil);
  if (now < from) return b;
  const tokens = Math.min(limit.burst, b.tokens + ((now - from) * limit.requestsPerSecond) / 1000);
  return { tokens, updatedAt: now, pausedUntil: b.pausedUntil };
}

export function take(bucket: TokenBucket, limit: CarrierRateLimit, now: number): TakeResult {
  const b = onTimeline(bucket, now);
  if (now < b.pausedUntil) return { ok: false, bucket: b, waitMs: b.pausedUntil - now };
  const r = refill(b, limit, now);
  if (r.tokens >= 1) return { ok: true, bucket: { ...r, tokens: r.tokens - 1 } };
  return { ok: false, bucket: r, waitMs: Math.ceil(((1 - r.tokens) * 1000) / limit.requestsPerSecond) };
}

export function pause(bucket: TokenBucket, now: number, forMs: number): TokenBucket {
  const b = onTimeline(bucket, now);
  const until = Math.min(Math.max(b.pausedUntil, now + forMs), now + maxPauseMs);
  return { tokens: 1, updatedAt: Math.max(b.updatedAt, now), pausedUntil: until };
}
