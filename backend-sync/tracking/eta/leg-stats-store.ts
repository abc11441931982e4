import type { Clock } from '../../shared/clock.js';
import { emptyLegStats, mergeLegStats, type LegStats } from './leg-stats.js';

// Where learned leg times live: one row per (carrier, status) holding count / mean / M2
// (store/sql/leg-stats-repository.ts). Merging is the exact parallel-variance formula done
// by the database in one upsert, so several instances learning at once add up to the same
// numbers as one instance learning everything.

export interface LegStatsRepository {
  all(): Promise<LegStats>;
  /** Adds `delta` (the legs of newly arrived shipments) to the stored cells. */
  merge(delta: LegStats, now: number): Promise<void>;
}

/**
 * The ETA is computed for every applied number, so it must not read the table each time: a
 * snapshot, reloaded when older than `maxAgeMs` (other instances' learning shows up then),
 * with this instance's own learning folded in at once.
 */
export class LegStatsCache {
  private snapshot: LegStats = emptyLegStats;
  private loadedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly repo: LegStatsRepository,
    private readonly clock: Clock,
    private readonly maxAgeMs = 60_000,
  ) {}

  async current(): Promise<LegStats> {
    const now = this.clock.now();
    if (now - this.loadedAt >= this.maxAgeMs || now < this.loadedAt) {
      this.snapshot = await this.repo.all();
      this.loadedAt = now;
    }
    return this.snapshot;
  }

  /** This instance just stored `delta`: count it now rather than at the next reload. */
  learned(delta: LegStats): void {
    this.snapshot = mergeLegStats(this.snapshot, delta);
  }
}
