import type { BudgetTake, CarrierBudgetPort } from '../../tracking/polling/carrier-budget-port.js';
import type { CarrierRateLimit } from '../../tracking/polling/carrier-tracking-client.js';
import { newBucket, pause, take, type TokenBucket } from '../../tracking/polling/token-bucket.js';
import { atomically, type SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// The carriers' request budgets shared by every instance (tracking/polling/carrier-budget-port.ts):
// one row per carrier, created full, then read under its lock, moved by the pure bucket
// functions and written back, in one transaction.

interface Row {
  tokens: number;
  updated_at: number | string;
  paused_until: number | string;
}

const ensure = sql(`INSERT INTO tracking_carrier_budgets (carrier, tokens, updated_at, paused_until) VALUES (?, ?, ?, 0) ON CONFLICT (carrier) DO NOTHING`);
const lock = sqlPer({
  sqlite: `SELECT tokens, updated_at, paused_until FROM tracking_carrier_budgets WHERE carrier = ?`,
  postgres: `SELECT tokens, updated_at, paused_until FROM tracking_carrier_budgets WHERE carrier = ? FOR UPDATE`,
});
const save = sql(`UPDATE tracking_carrier_budgets SET tokens = ?, updated_at = ?, paused_until = ? WHERE carrier = ?`);

export class SqlCarrierBudgets implements CarrierBudgetPort {
  constructor(private readonly x: SqlExecutor) {}

  take(carrier: string, limit: CarrierRateLimit, now: number): Promise<BudgetTake> {
    return this.change(carrier, limit, now, (b) => {
      const t = take(b, limit, now);
      return { bucket: t.bucket, result: t.ok ? { ok: true } : { ok: false, waitMs: t.waitMs } };
    });
  }

  async pause(carrier: string, limit: CarrierRateLimit, now: number, forMs: number): Promise<void> {
    await this.change(carrier, limit, now, (b) => ({ bucket: pause(b, now, forMs), result: undefined }));
  }

  private change<T>(carrier: string, limit: CarrierRateLimit, now: number, step: (b: TokenBucket) => { bucket: TokenBucket; result: T }): Promise<T> {
    return atomically(this.x, async () => {
      await this.x.run(ensure, [carrier, newBucket(limit, now).tokens, now]);
      const row = await this.x.one<Row>(lock, [carrier]);
      if (row === undefined) throw new Error(`tracking_carrier_budgets row missing after insert: ${carrier}`);
      const { bucket, result } = step({ tokens: Number(row.tokens), updatedAt: Number(row.updated_at), pausedUntil: Number(row.paused_until) });
      await this.x.run(save, [bucket.tokens, bucket.updatedAt, bucket.pausedUntil, carrier]);
      return result;
    });
  }
}
