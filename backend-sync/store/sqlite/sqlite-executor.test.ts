import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { openSqliteStore } from '../open-store.js';
import { openSqlite } from './open-sqlite.js';
import { sql } from '../sql/sql-text.js';

const dir = mkdtempSync(join(tmpdir(), 'sqlite-executor-'));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const record = { requestHash: 'h', statusCode: 201, responseJson: '{}' };

describe('SQLite executor: group commit', () => {
  it('commits concurrent units together, undoing only the unit that throws', async () => {
    const store = openSqliteStore(join(dir, 'g.db'), silentLogger());
    const results = await Promise.allSettled([
      store.transactionGrouped(() => store.idempotency.put('s', 'a', record, 1)),
      store.transactionGrouped(async () => {
        await store.idempotency.put('s', 'b', record, 1);
        throw new Error('no capacity');
      }),
      store.transactionGrouped(async () => {
        await store.idempotency.put('s', 'c', record, 1);
        return 'c';
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.idempotency.get('s', 'a')).toBeDefined();
    expect(await store.idempotency.get('s', 'b')).toBeUndefined();
    expect(await store.idempotency.get('s', 'c')).toBeDefined();
    await store.close();
  });

  it('settles a unit only after its commit is durable: nothing is visible to another connection before', async () => {
    const path = join(dir, 'h.db');
    const store = openSqliteStore(path, silentLogger());
    const other = openSqliteStore(path, silentLogger());
    const pending = store.transactionGrouped(() => store.idempotency.put('s', 'k', record, 1));
    expect(await other.idempotency.get('s', 'k')).toBeUndefined();
    await pending;
    expect(await other.idempotency.get('s', 'k')).toBeDefined();
    await store.close();
    await other.close();
  });
});

describe('SQLite executor: async transactions on one connection', () => {
  it('a statement from outside waits for the open transaction instead of slipping into it', async () => {
    const store = openSqliteStore(join(dir, 't.db'), silentLogger());
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tx = store.transaction(async () => {
      await store.idempotency.put('s', 'inside', record, 1);
      await gate;
      throw new Error('roll back');
    });
    // Issued while the transaction is open and waiting: must not become part of it.
    const outside = store.idempotency.put('s', 'outside', record, 1);
    release();
    await expect(tx).rejects.toThrow('roll back');
    await outside;
    expect(await store.idempotency.get('s', 'inside')).toBeUndefined();
    expect(await store.idempotency.get('s', 'outside')).toBeDefined();
    await store.close();
  });

  it('refuses a database migrated by newer code', () => {
    const path = join(dir, 'new.db');
    const db = openSqlite({ path, logger: silentLogger() });
    const version = db.pragma('user_version', { simple: true }) as number;
    db.pragma(`user_version = ${String(version + 1)}`);
    db.close();
    let err: unknown;
    try {
      openSqlite({ path, logger: silentLogger() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe('DB_TOO_NEW');
  });
});

describe('SQLite executor: row-by-row batches', () => {
  it('runs runEach/oneEach in order with per-row results, waits for another transaction, and rolls back with the one it runs in', async () => {
    const store = openSqliteStore(join(dir, 'each.db'), silentLogger());
    const x = store.x;
    await x.run(sql(`CREATE TABLE each_t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`));
    const put = sql(`INSERT INTO each_t (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING`);
    const get = sql(`SELECT v FROM each_t WHERE k = ?`);
    expect(await x.runEach(put, [['a', 1], ['b', 2], ['a', 3]])).toEqual([1, 1, 0]);
    expect(await x.oneEach<{ v: number }>(get, [['b'], ['zz'], ['a']])).toEqual([{ v: 2 }, undefined, { v: 1 }]);

    // A batch issued while another transaction is open runs after it, not inside it.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const tx = x.transaction(async () => {
      await x.run(put, ['c', 4]);
      await held;
      throw new Error('abort');
    });
    const outside = x.runEach(put, [['c', 5]]);
    release();
    await expect(tx).rejects.toThrow('abort');
    expect(await outside).toEqual([1]);
    expect(await x.oneEach<{ v: number }>(get, [['c']])).toEqual([{ v: 5 }]);

    // Inside a transaction that fails, the batch's rows go with it.
    await expect(
      x.transaction(async () => {
        await x.runEach(put, [['d', 6], ['e', 7]]);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await x.oneEach(get, [['d'], ['e']])).toEqual([undefined, undefined]);
    await store.close();
  });
});
