import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BackendError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { requireCurrentSchema } from '../schema-version.js';
import { SQLITE_SCHEMA_VERSION, migrate } from './migrations.js';

export type SqliteDatabase = Database.Database;

const SYNCHRONOUS_NORMAL = 1;
const CACHE_KIB = 64 * 1024;

export interface OpenSqliteOptions {
  path: string;
  logger: Logger;
  /** Several bridge processes may share one file: a writer waits this long for the lock. */
  busyTimeoutMs?: number;
  /**
   * A maintenance tool's open: the file must exist and be at this code's schema version;
   * nothing is created or migrated (a mistyped path, or a tool of another release, says so
   * instead of working on an empty database or upgrading one under running instances).
   */
  existing?: boolean;
}

/**
 * Opens the backend database for durable use through SqliteExecutor: WAL with
 * synchronous=NORMAL, read back, so a COMMIT writes the log without blocking the event loop
 * on the disk; the executor syncs the WAL on the thread pool before any write is
 * acknowledged (store/sqlite/wal-sync.ts, docs/decisions/0035), which keeps every
 * acknowledged write as durable as synchronous=FULL would. Used without the executor, this
 * connection may lose its last commits on power loss (never its consistency). Then migrates.
 */
export function openSqlite(options: OpenSqliteOptions): SqliteDatabase {
  const log = options.logger.child({ component: 'db' });
  if (options.existing === true && (options.path === ':memory:' || !existsSync(options.path))) {
    throw new BackendError('CONFIG_INVALID', `no database at ${options.path} (db.path, or BACKEND_DB_PATH)`, { path: options.path });
  }
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path, { fileMustExist: options.existing === true });
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 10_000))}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (options.path !== ':memory:' && mode !== 'wal') {
      throw new BackendError('DB_DURABILITY', 'journal_mode WAL could not be set', { mode: String(mode) });
    }
    db.pragma('synchronous = NORMAL');
    if (db.pragma('synchronous', { simple: true }) !== SYNCHRONOUS_NORMAL) {
      throw new BackendError('DB_DURABILITY', 'synchronous=NORMAL could not be set');
    }
    // Savepoints (one per group-committed unit) journal the pages they change; SQLite
    // spills that journal to a file in /var/tmp past 64 KiB, which measured as half of the
    // write system calls of a checkout hold. In memory it is a copy of a few pages per unit.
    db.pragma('temp_store = MEMORY');
    db.pragma('foreign_keys = ON');
    // INSERT OR REPLACE deletes the row it replaces without firing delete triggers unless
    // this is on: the append-only tables' triggers (tracking_history, state_log) must see it.
    // Every trigger here only raises, so nothing can recurse.
    db.pragma('recursive_triggers = ON');
    // SQLite's default page cache is 2 MiB; the backend's file is tens of MiB at estate
    // scale (34 MiB with 10,000 lockers), so a checkout's claim re-read its pages from the
    // OS through a system call each. 64 MiB keeps the hot pages in the process (the claim's
    // pick: ~18 → ~13 µs CPU, system time ÷3). An upper bound, allocated as pages are used.
    db.pragma(`cache_size = ${String(-CACHE_KIB)}`);
    if (options.existing === true) requireCurrentSchema(db.pragma('user_version', { simple: true }) as number, SQLITE_SCHEMA_VERSION);
    else migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  log.info({ path: options.path }, 'db.opened');
  return db;
}
