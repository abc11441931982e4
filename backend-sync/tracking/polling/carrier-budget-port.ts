import type { CarrierRateLimit } from './carrier-tracking-client.js';
import { newBucket, pause, take, type TokenBucket } from './token-bucket.js';

// Where a carrier's request budget (token-bucket.ts) lives. The store's (SqlCarrierBudgets)
// is one bucket per carrier for every backend instance on that database, read and written
// under the row's lock: N instances polling one carrier stay within its limit together,
// and one instance's 429 pauses them all. InMemoryCarrierBudgets is one process's.

export type BudgetTake = { ok: true } | { ok: false; waitMs: number };

export interface CarrierBudgetPort {
  /** One request's token of the carrier's bucket at `now`, or how long until there is one. */
  take(carrier: string, limit: CarrierRateLimit, now: number): Promise<BudgetTake>;
  /** No token for anyone before now + forMs (the carrier's Retry-After, or a backoff). */
  pause(carrier: string, limit: CarrierRateLimit, now: number, forMs: number): Promise<void>;
}

export class InMemoryCarrierBudgets implements CarrierBudgetPort {
  private readonly buckets = new Map<string, TokenBucket>();

  take(carrier: string, limit: CarrierRateLimit, now: number): Promise<BudgetTake> {
    const t = take(this.buckets.get(carrier) ?? newBucket(limit, now), limit, now);
    this.buckets.set(carrier, t.bucket);
    return Promise.resolve(t.ok ? { ok: true } : { ok: false, waitMs: t.waitMs });
  }

  pause(carrier: string, limit: CarrierRateLimit, now: number, forMs: number): Promise<void> {
    this.buckets.set(carrier, pause(this.buckets.get(carrier) ?? newBucket(limit, now), now, forMs));
    return Promise.resolve();
  }
}
