import { describe, expect, it } from 'vitest';
import { normalisedHash, promiseRevisionHash } from '../tracking/core/event-identity.js';
import type { CanonicalTrackingEvent } from '../tracking/tracking-event.js';
import { scan } from '../testing/tracking-helpers.js';
import { capitalisedEventJson, planHistoryMerge, type CaseHistoryRow } from './tracking-number-case.js';

// The history plan of the capital-letters migration (SQLite step 25, PostgreSQL step 23).

const row = (seq: number, e: CanonicalTrackingEvent, hash = normalisedHash(e)): CaseHistoryRow => ({ seq, trackingNumber: e.trackingNumber, upper: e.trackingNumber.toUpperCase(), hash, eventJson: JSON.stringify(e) });

describe('planHistoryMerge', () => {
  it('rehashes each small-letter scan as today’s applier would, drops the scans its capital twin holds, and renames promise revisions after their scan', () => {
    const lowScan = scan('ab1', 'in_transit', 1_000);
    const lowLabel = scan('ab1', 'label_created', 500);
    const revision = row(3, { ...lowScan, estimatedDeliveryAt: 9_000 }, promiseRevisionHash(normalisedHash(lowScan), 1_200, 9_000));
    const twin = normalisedHash(scan('AB1', 'in_transit', 1_000));
    const plan = planHistoryMerge([row(1, lowScan), row(2, lowLabel), revision], [{ hash: twin, eventJson: JSON.stringify(scan('AB1', 'in_transit', 1_000)) }]);
    // The in_transit scan is its twin's: dropped; the label kept under its new hash.
    expect(plan.drop).toEqual([1]);
    expect(plan.rewrite).toEqual([
      { seq: 2, trackingNumber: 'AB1', upper: 'AB1', hash: normalisedHash(scan('AB1', 'label_created', 500)), eventJson: JSON.stringify({ ...lowLabel, trackingNumber: 'AB1' }) },
      { seq: 3, trackingNumber: 'AB1', upper: 'AB1', hash: promiseRevisionHash(twin, 1_200, 9_000), eventJson: JSON.stringify({ ...lowScan, estimatedDeliveryAt: 9_000, trackingNumber: 'AB1' }) },
    ]);
  });

  it('keeps one of two small spellings of one scan, and leaves a row whose text no longer reads untouched, under its own spelling', () => {
    const a = scan('ab1', 'in_transit', 1_000);
    const b = scan('Ab1', 'in_transit', 1_000);
    const broken: CaseHistoryRow = { seq: 7, trackingNumber: 'ab1', upper: 'AB1', hash: 'h-broken', eventJson: 'not json' };
    const plan = planHistoryMerge([row(5, a), row(6, b), broken], []);
    expect(plan.drop).toEqual([6]);
    expect(plan.rewrite.map((r) => [r.seq, r.trackingNumber, r.hash])).toEqual([[5, 'AB1', normalisedHash(scan('AB1', 'in_transit', 1_000))]]);
  });

  it('drops a copy of a scan its capital twin holds under a hash of an earlier format, and names the copy’s revision after that twin', () => {
    const low = scan('ab1', 'in_transit', 1_000);
    const lowHash = normalisedHash(low);
    const revision = row(2, { ...low, estimatedDeliveryAt: 9_000 }, promiseRevisionHash(lowHash, 1_200, 9_000));
    const plan = planHistoryMerge([row(1, low), revision], [{ hash: 'h-old-format', eventJson: JSON.stringify(scan('AB1', 'in_transit', 1_000)) }]);
    expect(plan.drop).toEqual([1]);
    expect(plan.rewrite.map((r) => r.hash)).toEqual([promiseRevisionHash('h-old-format', 1_200, 9_000)]);
  });

  it('rewrites a waiting inbox row’s number and keeps fields it does not know', () => {
    expect(JSON.parse(capitalisedEventJson('{"trackingNumber":"ab1","future":1}', 'AB1'))).toEqual({ trackingNumber: 'AB1', future: 1 });
    expect(capitalisedEventJson('[1]', 'AB1')).toBe('[1]');
  });
});
