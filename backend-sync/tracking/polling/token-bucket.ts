import type { CarrierRateLimit } from './carrier-tracking-client.js';

// A token bucket per carrier, pure: `take` is a function of (bucket, now) returning the new
// bucket and either a token or how long until one. Refill is continuous at
// requestsPerSecond up to `burst`. A carrier's 429 pauses the bucket until its Retry-After
// and leaves it one token, so one request goes out when the pause ends, not a burst.
//
// The bucket is kept where every instance reads it (carrier-budget-port.ts), so several
// backend instances polling one carrier share its rate; a 429 that still comes back (a
// limit set too high) is respected (pause + backoff), so an overshoot costs time, not bans.

export interface TokenBucket {
  tokens: number;
  updatedAt: number;
  /** No token before this instant (a carrier's Retry-After). */
  pausedUntil: number;
}

export function newBucket(limit: CarrierRateLimit, now: number): TokenBucket {
  return { tokens: limit.burst, updatedAt: now, pausedUntil: 0 };
}

export type TakeResult = { ok: true; bucket: TokenBucket } | { ok: false; bucket: TokenBucket; waitMs: number };

function refill(b: TokenBucket, limit: CarrierRateLimit, now: number): TokenBucket {
  const from = Math.max(b.updatedAt, b.pausedUntil);
  if (now <= from) return b;
  const tokens = Math.min(limit.burst, b.tokens + ((now - from) * limit.requestsPerSecond) / 1000);
  return { tokens, updatedAt: now, pausedUntil: b.pausedUntil };
}

export function take(b: TokenBucket, limit: CarrierRateLimit, now: number): TakeResult {
  if (now < b.pausedUntil) return { ok: false, bucket: b, waitMs: b.pausedUntil - now };
  const r = refill(b, limit, now);
  if (r.tokens >= 1) return { ok: true, bucket: { ...r, tokens: r.tokens - 1 } };
  return { ok: false, bucket: r, waitMs: Math.ceil(((1 - r.tokens) * 1000) / limit.requestsPerSecond) };
}

export function pause(b: TokenBucket, now: number, forMs: number): TokenBucket {
  const until = Math.max(b.pausedUntil, now + forMs);
  return { tokens: 1, updatedAt: until, pausedUntil: until };
}
