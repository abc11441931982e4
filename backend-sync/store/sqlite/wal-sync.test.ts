import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { SqlStore } from '../sql-store.js';
import { openSqlite } from './open-sqlite.js';
import { SqliteExecutor } from './sqlite-executor.js';
import { WalSync } from './wal-sync.js';

// A commit is acknowledged only after a WAL flush that started after it, and the flush
// runs while the connection already serves the next transaction.

const dir = mkdtempSync(join(tmpdir(), 'wal-sync-'));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A datasync the test completes by hand. */
function manualDatasync(): { datasync: (fd: number) => Promise<void>; pending: Array<() => void> } {
  const pending: Array<() => void> = [];
  return { pending, datasync: () => new Promise<void>((resolve) => pending.push(resolve)) };
}

const record = { requestHash: 'h', statusCode: 201, responseJson: '{}' };
const settledYet = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('WAL flush after commit (synchronous=NORMAL)', () => {
  it('resolves a transaction only after its flush, and lets the next one commit meanwhile', async () => {
    const path = join(dir, 'w.db');
    const m = manualDatasync();
    const store = new SqlStore(new SqliteExecutor(openSqlite({ path, logger: silentLogger(), synchronous: 'NORMAL' }), new WalSync(`${path}-wal`, m.datasync)));
    const first = store.transaction(() => store.idempotency.put('s', 'a', record, 1));
    expect(await settledYet(first)).toBe(false);
    expect(m.pending).toHaveLength(1);
    // The connection is free: a second transaction commits while the first flush runs…
    const second = store.transaction(() => store.idempotency.put('s', 'b', record, 1));
    await new Promise((r) => setImmediate(r));
    expect(await store.idempotency.get('s', 'b')).toBeDefined();
    // …and is not acknowledged by a flush that started before its commit.
    m.pending[0]?.();
    expect(await settledYet(first)).toBe(true);
    expect(await settledYet(second)).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(m.pending).toHaveLength(2);
    m.pending[1]?.();
    expect(await settledYet(second)).toBe(true);
    await store.close();
  });

  it('shares one flush among the commits that wait for the same one', async () => {
    const path = join(dir, 'c.db');
    const m = manualDatasync();
    const sync = new WalSync(`${path}-wal`, m.datasync);
    const store = new SqlStore(new SqliteExecutor(openSqlite({ path, logger: silentLogger(), synchronous: 'NORMAL' }), sync));
    const running = store.transaction(() => store.idempotency.put('s', 'x', record, 1));
    await new Promise((r) => setImmediate(r));
    const waiting = Array.from({ length: 5 }, (_, i) => store.transaction(() => store.idempotency.put('s', `y${String(i)}`, record, 1)));
    await new Promise((r) => setImmediate(r));
    m.pending[0]?.();
    await running;
    await new Promise((r) => setImmediate(r));
    m.pending[1]?.();
    await Promise.all(waiting);
    expect(sync.flushes).toBe(2);
    await store.close();
  });

  it('rejects the commit when the flush fails: nothing unflushed is acknowledged', async () => {
    const path = join(dir, 'f.db');
    const store = new SqlStore(new SqliteExecutor(openSqlite({ path, logger: silentLogger(), synchronous: 'NORMAL' }), new WalSync(`${path}-wal`, () => Promise.reject(new Error('EIO')))));
    await expect(store.transaction(() => store.idempotency.put('s', 'z', record, 1))).rejects.toThrow('EIO');
    await store.close();
  });
});
