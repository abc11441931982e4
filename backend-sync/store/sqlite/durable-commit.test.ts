import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackendError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { sql } from '../sql/sql-text.js';
import { BACKSTOP_PAGES, BackgroundCheckpointer } from './background-checkpointer.js';
import { openSqlite } from './open-sqlite.js';
import { SqliteExecutor } from './sqlite-executor.js';
import { WalSync } from './wal-sync.js';
import { recordingLogger } from '../../testing/recording-logger.js';

// docs/decisions/0035: COMMIT writes the WAL (synchronous=NORMAL), the executor syncs it on
// the thread pool before acknowledging; a worker thread checkpoints.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'durable-commit-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const put = sql('INSERT INTO kv (k, v) VALUES (?, ?)');
const get = sql('SELECT v FROM kv WHERE k = ?');

async function executor(name: string): Promise<SqliteExecutor> {
  const x = new SqliteExecutor(openSqlite({ path: join(dir, name), logger: silentLogger() }));
  await x.run(sql('CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)'));
  return x;
}

/** Records, in order, when a WAL sync starts and ends and when callers are answered. */
function traceSyncs(): string[] {
  const events: string[] = [];
  const flush = WalSync.prototype.flush;
  vi.spyOn(WalSync.prototype, 'flush').mockImplementation(function (this: WalSync) {
    events.push('sync-asked');
    return flush.call(this).then(() => void events.push('synced'));
  });
  return events;
}

describe('durable commits: the WAL is synced before a write is acknowledged', () => {
  it('a transaction resolves only after the sync that covers its commit', async () => {
    const x = await executor('tx.db');
    const events = traceSyncs();
    await x.transaction(async () => {
      await x.run(put, ['a', 'x']);
      events.push('wrote');
    });
    events.push('acknowledged');
    expect(events).toEqual(['wrote', 'sync-asked', 'synced', 'acknowledged']);
    await x.close();
  });

  it('a write outside a transaction is synced before it resolves; a read is not', async () => {
    const x = await executor('auto.db');
    const events = traceSyncs();
    await x.run(put, ['a', 'x']);
    events.push('write-acknowledged');
    await x.one(get, ['a']);
    await x.oneEach(get, [['a'], ['b']]);
    events.push('reads-done');
    expect(events).toEqual(['sync-asked', 'synced', 'write-acknowledged', 'reads-done']);
    await x.close();
  });

  it('concurrent group-committed units share syncs, and every one is acknowledged after one', async () => {
    const x = await executor('group.db');
    const before = x.walSyncs;
    const units = Array.from({ length: 200 }, (_, i) => x.transactionGrouped(() => x.run(put, [`k${String(i)}`, 'v'])));
    await Promise.all(units);
    const syncs = x.walSyncs - before;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(10);
    expect(await x.one<{ n: number }>(sql('SELECT count(*) AS n FROM kv'))).toEqual({ n: 200 });
    await x.close();
  });

  it('a connection that syncs its own commits (synchronous=FULL) is not synced twice', async () => {
    const db = openSqlite({ path: join(dir, 'full.db'), logger: silentLogger() });
    db.pragma('synchronous = FULL');
    const x = new SqliteExecutor(db);
    await x.run(sql('CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)'));
    await x.run(put, ['a', 'x']);
    expect(x.walSyncs).toBe(0);
    await x.close();
  });

  it('an executor whose WAL cannot be synced fails the write and tells its listener once', async () => {
    const path = join(dir, 'lost.db');
    const x = new SqliteExecutor(openSqlite({ path, logger: silentLogger() }));
    const lost: BackendError[] = [];
    x.onDurabilityLost((err) => lost.push(err));
    // SQLite keeps writing to its open descriptor; the sync cannot find the file any more.
    rmSync(`${path}-wal`);
    await expect(x.run(sql('CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)'))).rejects.toMatchObject({ code: 'DB_DURABILITY' });
    await expect(x.transaction(() => x.run(put, ['a', 'x']))).rejects.toMatchObject({ code: 'DB_DURABILITY' });
    expect(lost.map((e) => e.code)).toEqual(['DB_DURABILITY']);
    await x.close();
    // Left open, not closed cleanly: a clean close would checkpoint pages the kernel may have
    // lost into the file; the WAL stays for SQLite's recovery at the next start.
    expect(x.db.open).toBe(true);
    x.db.close();
  });

  it('syncs the WAL beside the real file when the database is opened through a symlink', async () => {
    mkdirSync(join(dir, 'real'));
    const real = join(dir, 'real', 'b.db');
    openSqlite({ path: real, logger: silentLogger() }).close();
    symlinkSync(real, join(dir, 'link.db'));
    const x = new SqliteExecutor(openSqlite({ path: join(dir, 'link.db'), logger: silentLogger() }));
    await x.run(sql('CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)'));
    await x.run(put, ['a', 'x']);
    expect(x.walSyncs).toBeGreaterThanOrEqual(2);
    await x.close();
  });

  it('a failed sync fails that write and every later one (the kernel may have dropped the pages)', async () => {
    const sync = new WalSync(join(dir, 'missing', 'x.db-wal'));
    const first = await sync.flush().catch((e: unknown) => e);
    expect(first).toBeInstanceOf(BackendError);
    expect((first as BackendError).code).toBe('DB_DURABILITY');
    await expect(sync.flush()).rejects.toThrow(/could not be synced/);
    await sync.close();
  });
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('background checkpoints', () => {
  it('a worker copies the WAL into the database file while the writer only appends', async () => {
    const path = join(dir, 'ck.db');
    const db = openSqlite({ path, logger: silentLogger() });
    const checkpointer = new BackgroundCheckpointer({ db, logger: silentLogger(), everyMs: 20 });
    const x = new SqliteExecutor(db, undefined, checkpointer);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(BACKSTOP_PAGES);
    await x.run(sql('CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)'));
    const sizeBefore = statSync(path).size;
    // ~2,000 pages: above SQLite's default automatic checkpoint, under the writer's backstop,
    // so only the worker can have moved them into the file.
    const blob = Buffer.alloc(3000, 7);
    await x.transaction(async () => {
      for (let i = 0; i < 2000; i++) await x.run(put, [`k${String(i)}`, blob]);
    });
    await until(() => statSync(path).size > sizeBefore + 2000 * 3000 && checkpointer.passes > 0, 'the worker to checkpoint');
    await x.close();
    expect(db.open).toBe(false);
    // Everything is in the file and reads back.
    const again = openSqlite({ path, logger: silentLogger() });
    expect(again.prepare('SELECT count(*) AS n FROM kv').get()).toEqual({ n: 2000 });
    again.close();
  });

  it('the worker never keeps a process alive that forgot to close its store', () => {
    const script = join(dir, 'forgets-close.mts');
    const openStore = new URL('../open-store.ts', import.meta.url).pathname;
    const logger = new URL('../../shared/logger.ts', import.meta.url).pathname;
    writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(openStore)};
       import { silentLogger } from ${JSON.stringify(logger)};
       const store = openSqliteStore(${JSON.stringify(join(dir, 'forgotten.db'))}, silentLogger(), { checkpoint: 'background' });
       await store.idempotency.put('s', 'k', { requestHash: 'h', statusCode: 201, responseJson: '{}' }, 1);
       process.stdout.write('wrote\\n');`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stdout).toContain('wrote');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
  });

  it('a process that closes its store waits for the worker to stop, and the close finishes', () => {
    // The worker is unref'd while it runs; its stop must hold the process open until the
    // worker answers, or a program ends inside close() (exit 13, WAL not checkpointed).
    const script = join(dir, 'closes.mts');
    const openStore = new URL('../open-store.ts', import.meta.url).pathname;
    const logger = new URL('../../shared/logger.ts', import.meta.url).pathname;
    const path = join(dir, 'closed.db');
    writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(openStore)};
       import { silentLogger } from ${JSON.stringify(logger)};
       const store = openSqliteStore(${JSON.stringify(path)}, silentLogger(), { checkpoint: 'background' });
       await store.idempotency.put('s', 'k', { requestHash: 'h', statusCode: 201, responseJson: '{}' }, 1);
       await store.close();
       process.stdout.write('closed\\n');`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stdout).toContain('closed');
    expect(run.status).toBe(0);
    // A clean close checkpointed and removed the WAL.
    expect(() => statSync(`${path}-wal`)).toThrow();
  });

  it('when the worker cannot run, the writer checkpoints itself again and the failure is logged', async () => {
    const path = join(dir, 'gone.db');
    const db = openSqlite({ path, logger: silentLogger() });
    // The open connection keeps working on the moved file; the worker cannot find it.
    renameSync(path, join(dir, 'moved.db'));
    const { logger, lines } = recordingLogger();
    const checkpointer = new BackgroundCheckpointer({ db, logger, everyMs: 20 });
    checkpointer.start();
    await until(() => lines.some((l) => l['msg'] === 'db.checkpoint_worker_failed'), 'the failure to be logged');
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await checkpointer.stop();
    db.close();
  });
});
