import { setTimeout as sleep } from 'node:timers/promises';
import type { SqlExecutor } from '../sql/sql-executor.js';

// Two instances claiming from one queue, as the lease-claim contract tests need them.

/**
 * Runs `claim` in two transactions started together, each held open a little after its
 * claim so the other claims while it is still in flight (on PostgreSQL: while its rows
 * are locked). SQLite runs the two one after the other.
 */
export function twoClaimsAtOnce<T>(x: SqlExecutor, claim: () => Promise<T[]>, holdMs = 60): Promise<[T[], T[]]> {
  const one = (): Promise<T[]> =>
    x.transaction(async () => {
      const got = await claim();
      await sleep(holdMs);
      return got;
    });
  return Promise.all([one(), one()]);
}

/**
 * Claims once inside a transaction that stays open, then claims again from outside it and
 * notes whether that second claim had to wait for the first to commit (it must not, on
 * PostgreSQL: SKIP LOCKED passes over the held rows instead of queueing behind them).
 */
export async function claimBesideOpenClaim<T>(x: SqlExecutor, claim: () => Promise<T[]>, patienceMs = 3_000): Promise<{ first: T[]; second: T[]; secondWaited: boolean }> {
  let claimed!: () => void;
  const firstClaimed = new Promise<void>((resolve) => (claimed = resolve));
  let release!: () => void;
  const mayCommit = new Promise<void>((resolve) => (release = resolve));
  const first = x.transaction(async () => {
    const got = await claim();
    claimed();
    await mayCommit;
    return got;
  });
  await Promise.race([firstClaimed, first]);
  const second = x.transaction(claim);
  const raced = await Promise.race([second.then(() => 'done' as const), sleep(patienceMs).then(() => 'waited' as const)]);
  release();
  return { first: await first, second: await second, secondWaited: raced === 'waited' };
}
