import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { addSample, mergeLegStats, type LegStats } from './leg-stats.js';
import { LegStatsCache, type LegStatsRepository } from './leg-stats-store.js';

// The ETA's view of the learned legs: read from the table at most once per maxAge, with this
// instance's own learning counted at once, and reloaded after a clock step backwards.

class CountingRepo implements LegStatsRepository {
  stored: LegStats = {};
  reads = 0;
  all(): Promise<LegStats> {
    this.reads++;
    return Promise.resolve(this.stored);
  }
  merge(delta: LegStats): Promise<void> {
    this.stored = mergeLegStats(this.stored, delta);
    return Promise.resolve();
  }
}

describe('LegStatsCache', () => {
  it('reads the table once per maxAge, counts its own learning at once, and sees other instances after a reload', async () => {
    const repo = new CountingRepo();
    const clock = new ManualClock(1_000_000);
    const cache = new LegStatsCache(repo, clock, 60_000);
    expect(await cache.current()).toEqual({});
    expect(await cache.current()).toEqual({});
    expect(repo.reads).toBe(1);

    const mine: LegStats = { dhl: { in_transit: addSample(undefined, 10) } };
    await repo.merge(mine);
    cache.learned(mine);
    expect((await cache.current())['dhl']?.in_transit?.count).toBe(1);
    expect(repo.reads).toBe(1);

    // Another instance learned too: visible once the snapshot is a minute old.
    await repo.merge({ dhl: { in_transit: addSample(undefined, 20) } });
    clock.advance(59_999);
    expect((await cache.current())['dhl']?.in_transit?.count).toBe(1);
    clock.advance(1);
    expect((await cache.current())['dhl']?.in_transit).toEqual({ count: 2, mean: 15, m2: 50, shipments: 0 });
    expect(repo.reads).toBe(2);

    // A clock stepped back (NTP) does not freeze the snapshot for the size of the step.
    clock.set(500_000);
    await cache.current();
    expect(repo.reads).toBe(3);
  });
});
