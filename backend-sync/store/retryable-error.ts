// PostgreSQL's deadlock detected (40P01) or serialisation failure (40001): the transaction
// did nothing and the executor runs it again (postgres/pg-executor.ts). Code that catches
// errors inside a transaction (a savepoint per item) must let these through: swallowed,
// the item is lost while the transaction around it commits.

export function isRetryableDbError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}
