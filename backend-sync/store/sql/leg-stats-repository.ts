import type { LegStats } from '../../tracking/eta/leg-stats.js';
import { LegStatsSchema, learnedStatuses } from '../../tracking/eta/leg-stats.js';
import type { LegStatsRepository } from '../../tracking/eta/leg-stats-store.js';
import type { SqlExecutor } from './sql-executor.js';
import { sqlPer, sql } from './sql-text.js';

// tracking_leg_stats: one row per (carrier, status). The upsert merges a delta cell into the
// stored one with Chan's formula; SET expressions see the old row, and the row is locked for
// the update, so concurrent merges from several instances are exact. Rounding may leave M2 a
// hair below zero, hence the floor. `shipments` (how many shipments the samples came from)
// just adds up; rows stored before it was counted hold 0 (SQLite step 20, PostgreSQL step
// 15): their scans still shape the mean and spread, but only shipments counted since decide
// whether a cell is trusted, because how many parcels those old scans came from is unknown.

const all = sql(`SELECT carrier, status, count, mean, m2, shipments FROM tracking_leg_stats ORDER BY carrier, status`);
const CURRENT = 'tracking_leg_stats';
const MERGED = (fn: string): string => `
  count = ${CURRENT}.count + excluded.count,
  mean = ${CURRENT}.mean + (excluded.mean - ${CURRENT}.mean) * excluded.count / (${CURRENT}.count + excluded.count),
  m2 = ${fn}(0, ${CURRENT}.m2 + excluded.m2
             + (excluded.mean - ${CURRENT}.mean) * (excluded.mean - ${CURRENT}.mean) * ${CURRENT}.count * excluded.count / (${CURRENT}.count + excluded.count)),
  shipments = ${CURRENT}.shipments + excluded.shipments,
  updated_at = excluded.updated_at`;
const merge = sqlPer({
  sqlite: `INSERT INTO tracking_leg_stats (carrier, status, count, mean, m2, shipments, updated_at) VALUES (@carrier, @status, @count, @mean, @m2, @shipments, @now)
           ON CONFLICT (carrier, status) DO UPDATE SET ${MERGED('max')}`,
  postgres: `INSERT INTO tracking_leg_stats (carrier, status, count, mean, m2, shipments, updated_at) VALUES (@carrier, @status, @count, @mean, @m2, @shipments, @now)
           ON CONFLICT (carrier, status) DO UPDATE SET ${MERGED('greatest')}`,
});

interface Row {
  carrier: string;
  status: string;
  count: number;
  mean: number;
  m2: number;
  shipments: number;
}

export class SqlLegStatsRepository implements LegStatsRepository {
  constructor(private readonly x: SqlExecutor) {}

  async all(): Promise<LegStats> {
    const out: Record<string, Record<string, { count: number; mean: number; m2: number; shipments: number }>> = {};
    for (const r of await this.x.all<Row>(all)) {
      const cell = (out[r.carrier] ??= {});
      cell[r.status] = { count: Number(r.count), mean: Number(r.mean), m2: Number(r.m2), shipments: Number(r.shipments) };
    }
    // Through the schema: a row an operator edited into nonsense is an error, not an ETA.
    return LegStatsSchema.parse(out);
  }

  async merge(delta: LegStats, now: number): Promise<void> {
    for (const [carrier, cells] of Object.entries(delta)) {
      for (const status of learnedStatuses) {
        const c = cells[status];
        if (c === undefined || c.count === 0) continue;
        await this.x.run(merge, { carrier, status, count: c.count, mean: c.mean, m2: c.m2, shipments: c.shipments, now });
      }
    }
  }
}
