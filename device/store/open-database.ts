import { accessSync, constants, statSync, type Stats } from 'node:fs';
import Database from 'better-sqlite3';
import { DeviceError } from '../errors.js';
import { takeCleanShutdownMarker, writeCleanShutdownMarker } from './clean-shutdown-marker.js';
import { clearCorruptionSentinel, hasCorruptionSentinel } from './corruption-sentinel.js';
import type { Logger } from '../logger.js';
import { openFailure, sqliteCode } from './sqlite-errors.js';

export type SqliteDatabase = Database.Database;
/** A prepared statement typed by its parameters and its row: the one place a row type is asserted. */
export type Stmt<Params extends unknown[] | object = unknown[], Row = unknown> = Database.Statement<Params, Row>;

export interface OpenDatabaseOptions {
  path: string;
  logger: Logger;
  /** How long a statement waits for a lock held by another connection (backup tool, CLI). */
  busyTimeoutMs?: number;
  /** false: the file must already exist (a restore, a read of a copied file). Default true. */
  create?: boolean;
  /**
   * Files up to this size get `PRAGMA integrity_check` at open, larger ones `quick_check`.
   * integrity_check also proves every index agrees with its table: a damaged code-digest
   * index would make a valid code "unknown", or let a duplicate live code in. It reads
   * every index, so it costs about twice quick_check: measured here on a 100k-code store
   * (56 MiB), 1.3 s against 0.55 s under load. A locker's boot can afford that; beyond
   * the threshold (an unusually large file) we settle for quick_check (page structure,
   * records, NOT NULL/CHECK) so start-up stays bounded.
   */
  integrityCheckMaxBytes?: number;
  /**
   * SQLite's page cache per connection, in KiB. better-sqlite3 builds SQLite with a 16 MB
   * default (cache_size -16000), and the integrity check at open reads every page through
   * it: on a 100k-code store that is 16 MB of RSS held for the life of the process (freed
   * pages are not returned to the OS), for a workload of point lookups that needs a few
   * hundred pages. Set before the check so the check itself stays inside the bound.
   */
  cacheSizeKib?: number;
}

/**
 * Closes the connection and, once the WAL is folded into the file, leaves the marker that
 * lets the next open skip the integrity check (clean-shutdown-marker.ts).
 */
export function closeDatabase(db: SqliteDatabase): void {
  if (!db.open) return;
  const path = db.name;
  db.close();
  const stats = statIfExists(path);
  if (stats !== undefined) writeCleanShutdownMarker(path, stats);
}

/** 4 MiB: the code-digest index path of a 100k store and the hot tables fit; see cacheSizeKib. */
export const DEFAULT_CACHE_SIZE_KIB = 4096;

export const DEFAULT_INTEGRITY_CHECK_MAX_BYTES = 64 * 1024 * 1024;
/** WAL keeps the size of the biggest transaction until truncated; cap what stays on disk. */
const JOURNAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024;
const SYNCHRONOUS_FULL = 2;

/**
 * Opens the device database durably and fails closed: a file that is corrupt, not a
 * database, unreadable or that would not be durable throws a DeviceError
 * (DB_CORRUPT / DB_UNREADABLE / DB_DURABILITY) instead of handing back an empty cache.
 * Schema and locker identity are checked by migrations.ts, not here.
 */
export function openDatabase(options: OpenDatabaseOptions): SqliteDatabase {
  const { path, logger } = options;
  const log = logger.child({ component: 'device-db' });
  const stats = statIfExists(path);
  if (stats !== undefined) {
    if (!stats.isFile()) {
      throw new DeviceError('DB_UNREADABLE', 'device database path is not a regular file', { path });
    }
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw openFailure(err, path, 'access');
    }
  } else if (options.create === false) {
    throw new DeviceError('DB_UNREADABLE', 'device database file does not exist', { path });
  }

  // Corruption met while the last run was running (corruption-sentinel.ts): the full check,
  // whatever the size and whatever a clean-shutdown marker says. A new file is not that file.
  const suspect = stats !== undefined && hasCorruptionSentinel(path);
  try {
    if (stats === undefined) clearCorruptionSentinel(path);
  } catch (err) {
    throw openFailure(err, path, 'sentinel');
  }
  // Taken (and removed) before the first write: see clean-shutdown-marker.ts.
  const cleanlyClosed = takeCleanShutdownMarker(path, stats);
  let db: SqliteDatabase;
  try {
    db = new Database(path, { fileMustExist: options.create === false });
  } catch (err) {
    throw openFailure(err, path, 'open');
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    // Negative = KiB rather than pages. Before the integrity check, which reads every page.
    db.pragma(`cache_size = -${Math.max(64, Math.trunc(options.cacheSizeKib ?? DEFAULT_CACHE_SIZE_KIB))}`);
    if (suspect) {
      log.warn({ path, bytes: stats.size }, 'db.integrity_check_forced_after_runtime_corruption');
      checkIntegrity(db, path, stats.size, Number.POSITIVE_INFINITY);
      clearCorruptionSentinel(path);
    } else if (cleanlyClosed) log.info({ path }, 'db.integrity_check_skipped_after_clean_close');
    else checkIntegrity(db, path, stats?.size ?? 0, options.integrityCheckMaxBytes ?? DEFAULT_INTEGRITY_CHECK_MAX_BYTES);
    setDurability(db, path);
    db.pragma('foreign_keys = ON');
    if (db.pragma('foreign_keys', { simple: true }) !== 1) {
      throw new DeviceError('DB_DURABILITY', 'foreign_keys could not be enabled', { path });
    }
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  } catch (err) {
    db.close();
    const failure = openFailure(err, path, 'check');
    log.error({ path, code: failure.code, sqliteCode: sqliteCode(err) }, 'db.open_failed');
    throw failure;
  }
  log.info({ path, bytes: stats?.size ?? 0 }, 'db.opened');
  return db;
}

function statIfExists(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if (sqliteCode(err) === 'ENOENT') return undefined;
    throw openFailure(err, path, 'stat');
  }
}

function checkIntegrity(db: SqliteDatabase, path: string, sizeBytes: number, maxFullCheckBytes: number): void {
  const pragma = sizeBytes <= maxFullCheckBytes ? 'integrity_check' : 'quick_check';
  // Up to 10 messages: enough for the operator, bounded for a badly damaged file.
  const rows = db.pragma(`${pragma}(10)`) as Array<Record<string, unknown>>;
  const messages = rows.map((r) => String(Object.values(r)[0]));
  if (messages.length !== 1 || messages[0] !== 'ok') {
    throw new DeviceError('DB_CORRUPT', `device database failed ${pragma}`, { path, messages });
  }
}

// better-sqlite3 compiles SQLite so that WAL quietly means synchronous=NORMAL (a power cut
// can lose the last commits). Everything a customer or courier depends on needs FULL, so
// we set it and read it back rather than trusting the setter.
function setDurability(db: SqliteDatabase, path: string): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') {
    throw new DeviceError('DB_DURABILITY', 'device database could not switch to WAL', { path, mode });
  }
  db.pragma('synchronous = FULL');
  const synchronous = db.pragma('synchronous', { simple: true });
  if (synchronous !== SYNCHRONOUS_FULL) {
    throw new DeviceError('DB_DURABILITY', 'synchronous=FULL did not take effect', { path, synchronous });
  }
}
