import { BackendError } from '../shared/errors.js';
import type { Clock } from '../shared/clock.js';

// A fixed-window request budget per client key (the remote address). Small and in-memory:
// each bridge instance limits its own traffic; a shared limit across instances belongs in
// the load balancer. Over budget → 429 with Retry-After (seconds to the next window).
// Safe per instance: it guards this process's capacity, and no correctness rests on it
// (holds, orders and codes are guarded by the database). Behind N instances a client may
// get up to N × max a window, which is the budget N instances can serve.

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  check(key: string): void {
    const now = this.clock.now();
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= this.windowMs) {
      if (this.windows.size > 10_000) this.windows.clear(); // bound memory under a scan
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count++;
    if (w.count > this.max) {
      const retryAfter = Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
      throw new BackendError('RATE_LIMITED', 'too many requests', { limit: this.max, windowMs: this.windowMs }, retryAfter);
    }
  }
}
