import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TrackingStatus } from '../tracking-event.js';
import { backoffMs, boundedRetryAfterMs, decideAfterFailure, decideAfterSuccess, decideDue, defaultPollPolicy, dueAfterNews } from './hybrid-poll-policy.js';
import type { PollEntry } from './poll-schedule-port.js';
import { newBucket, pause, take } from './token-bucket.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 11, 1, 8);

function entry(over: Partial<PollEntry> = {}): PollEntry {
  return {
    trackingNumber: 'TN1',
    carrier: 'simpost',
    status: 'in_transit',
    etaAt: null,
    lastEventAt: T0,
    lastWebhookAt: null,
    createdAt: T0,
    mode: 'webhook',
    nextPollAt: T0,
    failures: 0,
    leaseUntil: null,
    ...over,
  };
}

describe('hybrid poll policy: when a due entry is polled', () => {
  it('waits while webhooks are fresh, until the status threshold after the last one', () => {
    const d = decideDue(entry({ lastWebhookAt: T0 + HOUR }), T0 + 5 * HOUR);
    expect(d).toEqual({ action: 'wait', mode: 'webhook', nextPollAt: T0 + HOUR + 12 * HOUR, failures: 0, reasons: ['webhooks_active'] });
  });

  it('promotes a number to polling when its webhooks went quiet longer than the threshold for its status', () => {
    const d = decideDue(entry({ lastWebhookAt: T0 }), T0 + 12 * HOUR);
    expect(d.action).toBe('poll');
    expect(d.mode).toBe('polling');
    expect(d.reasons).toEqual(['promoted_quiet_webhooks']);
  });

  it('uses a shorter quiet threshold out for delivery than in transit', () => {
    const at = T0 + 3 * HOUR;
    expect(decideDue(entry({ status: 'out_for_delivery', lastWebhookAt: T0 }), at).action).toBe('poll');
    expect(decideDue(entry({ status: 'in_transit', lastWebhookAt: T0 }), at).action).toBe('wait');
  });

  it('measures quietness from creation when no webhook ever came', () => {
    expect(decideDue(entry({ status: null, createdAt: T0 }), T0 + 47 * HOUR).action).toBe('wait');
    expect(decideDue(entry({ status: null, createdAt: T0 }), T0 + 48 * HOUR).action).toBe('poll');
  });

  it('lets a number go that has had no scan at all for 30 days after its entry was created', () => {
    const unscanned = entry({ status: null, createdAt: T0, mode: 'polling' });
    expect(decideDue(unscanned, T0 + 30 * 24 * HOUR - 1).action).toBe('poll');
    expect(decideDue(unscanned, T0 + 30 * 24 * HOUR)).toMatchObject({ action: 'stop', nextPollAt: null, reasons: ['never_scanned'] });
    // A number with scans is not affected, however old its entry.
    expect(decideDue(entry({ createdAt: T0, lastWebhookAt: T0 + 40 * 24 * HOUR }), T0 + 40 * 24 * HOUR + HOUR).action).toBe('wait');
  });

  it('lets a label never handed to the carrier go 30 days after its entry or its label scan, whichever is later', () => {
    const DAY = 24 * HOUR;
    const label = entry({ status: 'label_created', createdAt: T0, lastEventAt: T0 - HOUR, mode: 'polling' });
    expect(decideDue(label, T0 + 30 * DAY - 1).action).toBe('poll');
    expect(decideDue(label, T0 + 30 * DAY)).toMatchObject({ action: 'stop', nextPollAt: null, reasons: ['never_scanned'] });
    // A label printed 10 days after the shipment was recorded counts from the label scan.
    const lateLabel = entry({ status: 'label_created', createdAt: T0, lastEventAt: T0 + 10 * DAY, mode: 'polling' });
    expect(decideDue(lateLabel, T0 + 39 * DAY).action).toBe('poll');
    expect(decideDue(lateLabel, T0 + 40 * DAY)).toMatchObject({ action: 'stop', reasons: ['never_scanned'] });
    // Handed over (picked up) a long time ago: not this rule's business.
    expect(decideDue(entry({ status: 'picked_up', createdAt: T0, lastEventAt: T0, mode: 'polling' }), T0 + 40 * DAY).action).toBe('poll');
  });

  it('demotes a polled number back to webhooks when a webhook arrived since', () => {
    const d = decideDue(entry({ mode: 'polling', failures: 3, lastWebhookAt: T0 + 10 * HOUR }), T0 + 11 * HOUR);
    expect(d).toMatchObject({ action: 'wait', mode: 'webhook', failures: 0, reasons: ['demoted_by_webhook', 'webhooks_active'] });
  });

  it.each<TrackingStatus>(['delivered', 'collected', 'returned_to_sender', 'available_for_pickup'])('stops polling a number that is %s', (status) => {
    expect(decideDue(entry({ status }), T0 + 100 * HOUR)).toMatchObject({ action: 'stop', nextPollAt: null, reasons: ['final_status'] });
    expect(decideAfterSuccess({ status, etaAt: null }, T0)).toMatchObject({ action: 'stop', nextPollAt: null });
  });
});

describe('hybrid poll policy: how often a polled number is polled', () => {
  it.each<[TrackingStatus | null, number]>([
    ['out_for_delivery', 15 * MIN],
    ['exception', HOUR],
    ['in_transit', 3 * HOUR],
    ['picked_up', 3 * HOUR],
    ['label_created', 24 * HOUR],
    [null, 24 * HOUR],
  ])('polls %s every %d ms', (status, every) => {
    expect(decideAfterSuccess({ status, etaAt: null }, T0)).toMatchObject({ nextPollAt: T0 + every, failures: 0, reasons: ['status_interval'] });
  });

  it('polls every 15 minutes once the ETA is within a few hours, or already past', () => {
    expect(decideAfterSuccess({ status: 'in_transit', etaAt: T0 + 3 * HOUR }, T0)).toMatchObject({ nextPollAt: T0 + 15 * MIN, reasons: ['near_eta'] });
    expect(decideAfterSuccess({ status: 'in_transit', etaAt: T0 - HOUR }, T0).nextPollAt).toBe(T0 + 15 * MIN);
    expect(decideAfterSuccess({ status: 'in_transit', etaAt: T0 + 30 * HOUR }, T0).nextPollAt).toBe(T0 + 3 * HOUR);
  });

  it('goes back to the status interval once the promise was missed by more than the near window', () => {
    expect(decideAfterSuccess({ status: 'in_transit', etaAt: T0 - 4 * HOUR }, T0)).toMatchObject({ nextPollAt: T0 + 15 * MIN, reasons: ['near_eta'] });
    expect(decideAfterSuccess({ status: 'in_transit', etaAt: T0 - 4 * HOUR - 1 }, T0)).toMatchObject({ nextPollAt: T0 + 3 * HOUR, reasons: ['status_interval'] });
    expect(dueAfterNews({ status: 'in_transit', etaAt: T0 - 2 * 24 * HOUR, at: T0, viaWebhook: false })).toBe(T0 + 3 * HOUR);
  });
});

describe('hybrid poll policy: news brings the next look forward', () => {
  it('after a webhook, to when webhooks would go quiet for the new status', () => {
    expect(dueAfterNews({ status: 'in_transit', at: T0, viaWebhook: true })).toBe(T0 + 12 * HOUR);
    expect(dueAfterNews({ status: 'out_for_delivery', at: T0, viaWebhook: true })).toBe(T0 + 2 * HOUR);
  });

  it('after another event, to the polling cadence of the new status and ETA', () => {
    expect(dueAfterNews({ status: 'in_transit', at: T0, viaWebhook: false })).toBe(T0 + 3 * HOUR);
    expect(dueAfterNews({ status: 'in_transit', etaAt: T0 + HOUR, at: T0, viaWebhook: false })).toBe(T0 + 15 * MIN);
  });

  it('not at all for a final status', () => {
    expect(dueAfterNews({ status: 'delivered', at: T0, viaWebhook: true })).toBeUndefined();
    expect(dueAfterNews({ status: 'collected', at: T0, viaWebhook: false })).toBeUndefined();
  });
});

describe('hybrid poll policy: failures', () => {
  it('backs off exponentially, with the jitter inside [half, full] of the step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (failures, r) => {
        const full = Math.min(defaultPollPolicy.backoff.maxMs, defaultPollPolicy.backoff.baseMs * 2 ** (failures - 1));
        const d = backoffMs(failures, r);
        return d >= Math.floor(full / 2) && d <= full;
      }),
    );
    expect([1, 2, 3, 4].map((f) => backoffMs(f, 0.999999))).toEqual([MIN, 2 * MIN, 4 * MIN, 8 * MIN]);
    expect(backoffMs(40, 0.5)).toBeLessThanOrEqual(6 * HOUR);
  });

  it('spreads numbers that failed together: different random draws give different times', () => {
    const a = decideAfterFailure({ failures: 2, status: 'in_transit' }, { code: 'TRANSIENT' }, T0, 0.1);
    const b = decideAfterFailure({ failures: 2, status: 'in_transit' }, { code: 'TRANSIENT' }, T0, 0.9);
    expect(a.nextPollAt).not.toBe(b.nextPollAt);
    expect(a).toMatchObject({ failures: 3, reasons: ['backoff'] });
  });

  it('never polls sooner than the carrier Retry-After', () => {
    const d = decideAfterFailure({ failures: 0, status: 'in_transit' }, { code: 'RATE_LIMITED', retryAfterMs: 10 * MIN }, T0, 0.5);
    expect(d).toMatchObject({ nextPollAt: T0 + 10 * MIN, failures: 1, reasons: ['backoff', 'retry_after'] });
    const shortRetry = decideAfterFailure({ failures: 5, status: 'in_transit' }, { code: 'RATE_LIMITED', retryAfterMs: 1000 }, T0, 0.5);
    expect(shortRetry.nextPollAt! - T0).toBe(backoffMs(6, 0.5));
  });

  it('bounds the carrier Retry-After by the longest backoff and ignores a nonsensical one', () => {
    const DAY = 24 * HOUR;
    expect(decideAfterFailure({ failures: 0, status: 'in_transit' }, { code: 'RATE_LIMITED', retryAfterMs: 3650 * DAY }, T0, 0.5)).toMatchObject({ nextPollAt: T0 + 6 * HOUR, reasons: ['backoff', 'retry_after'] });
    expect(decideAfterFailure({ failures: 0, status: 'in_transit' }, { code: 'TRANSIENT', retryAfterMs: Infinity }, T0, 0.5).reasons).toEqual(['backoff']);
    expect(decideAfterFailure({ failures: 0, status: 'in_transit' }, { code: 'TRANSIENT', retryAfterMs: -DAY }, T0, 0.5)).toMatchObject({ nextPollAt: T0 + backoffMs(1, 0.5), reasons: ['backoff'] });
    expect(boundedRetryAfterMs(NaN)).toBeUndefined();
    expect(boundedRetryAfterMs(10 * MIN)).toBe(10 * MIN);
  });

  it('stops at once on a permanent error and after maxFailures transient ones', () => {
    expect(decideAfterFailure({ failures: 0, status: 'in_transit' }, { code: 'PERMANENT' }, T0, 0.5)).toMatchObject({ action: 'stop', nextPollAt: null, reasons: ['permanent_error'] });
    expect(decideAfterFailure({ failures: defaultPollPolicy.maxFailures - 1, status: 'in_transit' }, { code: 'TRANSIENT' }, T0, 0.5)).toMatchObject({ action: 'stop', reasons: ['gave_up'] });
    expect(decideAfterFailure({ failures: defaultPollPolicy.maxFailures - 2, status: 'in_transit' }, { code: 'TRANSIENT' }, T0, 0.5).action).toBe('wait');
  });

  it('asks again about a number the carrier does not know yet no sooner than its status interval', () => {
    expect(decideAfterFailure({ failures: 0, status: null }, { code: 'NOT_FOUND' }, T0, 0.5)).toMatchObject({ nextPollAt: T0 + 24 * HOUR, failures: 1, reasons: ['backoff', 'status_interval'] });
    expect(decideAfterFailure({ failures: 0, status: 'in_transit' }, { code: 'NOT_FOUND' }, T0, 0.5).nextPollAt).toBe(T0 + 3 * HOUR);
    expect(decideAfterFailure({ failures: 0, status: 'in_transit' }, { code: 'TRANSIENT' }, T0, 0.5).nextPollAt).toBe(T0 + 45_000);
  });
});

describe('token bucket', () => {
  const limit = { requestsPerSecond: 2, burst: 3 };

  it('allows a burst, then one request per 1/rate seconds', () => {
    let b = newBucket(limit, T0);
    for (let i = 0; i < 3; i++) {
      const r = take(b, limit, T0);
      expect(r.ok).toBe(true);
      b = r.bucket;
    }
    const denied = take(b, limit, T0);
    expect(denied).toMatchObject({ ok: false, waitMs: 500 });
    expect(take(denied.bucket, limit, T0 + 499).ok).toBe(false);
    expect(take(denied.bucket, limit, T0 + 500).ok).toBe(true);
  });

  it('never hands out more than burst + rate × elapsed tokens, whatever the call pattern', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 200 }), (gaps) => {
        let b = newBucket(limit, T0);
        let now = T0;
        let granted = 0;
        for (const g of gaps) {
          now += g;
          const r = take(b, limit, now);
          b = r.bucket;
          if (r.ok) granted++;
        }
        return granted <= limit.burst + ((now - T0) * limit.requestsPerSecond) / 1000;
      }),
    );
  });

  it('refills from the new time after the clock steps back, keeping its tokens', () => {
    const one = { requestsPerSecond: 1, burst: 1 };
    const spent = take(newBucket(one, T0), one, T0);
    expect(spent.ok).toBe(true);
    const stepped = take(spent.bucket, one, T0 - HOUR); // NTP sets the clock back an hour
    expect(stepped).toMatchObject({ ok: false, waitMs: 1_000 });
    expect(take(stepped.bucket, one, T0 - HOUR + 1_000).ok).toBe(true);
    // Two instances a few hundred ms apart: no time passed, so no extra token either.
    const skewed = take(spent.bucket, one, T0 - 500);
    expect(skewed).toMatchObject({ ok: false, bucket: spent.bucket });
    expect(take(skewed.bucket, one, T0 + 999).ok).toBe(false);
    // A pause set before the step lasts at most its own length from the new now.
    const paused = pause(spent.bucket, T0, 10_000);
    expect(take(paused, one, T0 - HOUR)).toMatchObject({ ok: false, waitMs: 10_000 });
  });

  it('caps a pause that lies absurdly far ahead at 24 h', () => {
    const parked = pause(newBucket(limit, T0), T0, 3650 * 24 * HOUR);
    expect(take(parked, limit, T0 + 24 * HOUR).ok).toBe(true);
    // One stored before pauses were bounded is capped when read.
    const stored = { tokens: 1, updatedAt: T0, pausedUntil: T0 + 3650 * 24 * HOUR };
    const capped = take(stored, limit, T0);
    expect(capped).toMatchObject({ ok: false, waitMs: 24 * HOUR });
    expect(take(capped.bucket, limit, T0 + 24 * HOUR).ok).toBe(true);
  });

  it('gives no token while paused by a Retry-After, and no burst right after it', () => {
    const b = pause(newBucket(limit, T0), T0, 5_000);
    expect(take(b, limit, T0 + 4_999)).toMatchObject({ ok: false, waitMs: 1 });
    const after = take(b, limit, T0 + 5_000);
    expect(after.ok).toBe(true);
    expect(take(after.bucket, limit, T0 + 5_000)).toMatchObject({ ok: false, waitMs: 500 });
  });
});
