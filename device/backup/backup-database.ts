import { chmodSync, closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { DeviceError } from '../errors.js';
import { hasCorruptionSentinel } from '../store/corruption-sentinel.js';
import { DEFAULT_INTEGRITY_CHECK_MAX_BYTES } from '../store/open-database.js';
import { DEVICE_DB_APPLICATION_ID, LATEST_SCHEMA_VERSION } from '../store/migrations.js';
import { openFailure, sqliteCode } from '../store/sqlite-errors.js';

// A consistent copy of the device database, taken while the service keeps writing to it
// (update.sh runs it before switching releases; docs/hardware.md). The live file is only
// ever opened read-only: the copy never changes what the running locker sees. The copy is
// written under a temporary name, checked, and only then renamed to its final name, so a
// file with that name is always a whole, verified device database.

export interface BackupResult {
  /** Final path of the verified copy. */
  path: string;
  bytes: number;
  /** The schema version (user_version) the copy holds. */
  schemaVersion: number;
  /** Which check the copy passed. */
  check: 'integrity_check' | 'quick_check';
}

export interface BackupOptions {
  dbPath: string;
  out: string;
  /** Copies up to this size get integrity_check, larger ones quick_check (as at open); any size while `<dbPath>.corrupt` is there. */
  integrityCheckMaxBytes?: number;
}

// One step for the whole file: the copy is read under a single read transaction, so a
// writer committing meanwhile neither tears it nor restarts it over and over (the backup
// API restarts a step-wise copy whenever another connection writes the source).
const ALL_PAGES = 0x7fffffff;

export async function backupDatabase(options: BackupOptions): Promise<BackupResult> {
  const { dbPath, out } = options;
  const source = openSource(dbPath);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${String(process.pid)}`);
  try {
    const schemaVersion = checkOurs(source, dbPath);
    removeStaleTemporaries(out);
    try {
      await source.backup(tmp, { progress: () => ALL_PAGES });
    } catch (err) {
      throw new DeviceError('BACKUP_FAILED', 'could not write the backup copy', { out, sqliteCode: sqliteCode(err) }, { cause: err });
    }
    // Only the service user (and root) may read codes' digests and tokens.
    chmodSync(tmp, 0o600);
    const bytes = statSync(tmp).size;
    // The running locker met corruption in this file (store/corruption-sentinel.ts):
    // quick_check passes the index damage it met, and a copy "verified" by it would be kept
    // as pre-update-<version>.db in place of a sound older one. The full check, as the
    // device's own next open runs. Read only here: the device clears the sentinel.
    const maxFullCheckBytes = hasCorruptionSentinel(dbPath) ? Number.POSITIVE_INFINITY : (options.integrityCheckMaxBytes ?? DEFAULT_INTEGRITY_CHECK_MAX_BYTES);
    const check = verifyCopy(tmp, out, bytes, maxFullCheckBytes);
    fsyncPath(tmp);
    renameSync(tmp, out);
    fsyncPath(dirname(out));
    return { path: out, bytes, schemaVersion, check };
  } catch (err) {
    rmSync(tmp, { force: true });
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${tmp}${suffix}`, { force: true });
    // A full disk, a directory the service user may not write…: the code says which step.
    if (err instanceof DeviceError) throw err;
    throw new DeviceError('BACKUP_FAILED', 'could not write the backup copy', { out }, { cause: err });
  } finally {
    source.close();
  }
}

function openSource(dbPath: string): Database.Database {
  let size: number;
  try {
    const stats = statSync(dbPath);
    if (!stats.isFile()) throw new DeviceError('DB_UNREADABLE', 'device database path is not a regular file', { path: dbPath });
    size = stats.size;
  } catch (err) {
    if (sqliteCode(err) === 'ENOENT') throw new DeviceError('DB_UNREADABLE', 'device database file does not exist', { path: dbPath });
    throw openFailure(err, dbPath, 'stat');
  }
  // An empty file is what `sqlite3` leaves on a mistyped path: SQLite would call it an
  // empty database, and a backup of it would look like success.
  if (size === 0) throw new DeviceError('DB_CORRUPT', 'device database file is empty: not a locker device database', { path: dbPath });
  try {
    return new Database(dbPath, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw openFailure(err, dbPath, 'open');
  }
}

/** The schema version of a locker device database; refuses any other file. */
function checkOurs(db: Database.Database, path: string): number {
  let applicationId: unknown;
  let userVersion: number;
  try {
    db.pragma('busy_timeout = 5000');
    applicationId = db.pragma('application_id', { simple: true });
    userVersion = Number(db.pragma('user_version', { simple: true }));
  } catch (err) {
    throw openFailure(err, path, 'read');
  }
  if (applicationId !== DEVICE_DB_APPLICATION_ID || userVersion < 1) {
    throw new DeviceError('DB_CORRUPT', 'file is not a locker device database', { path, applicationId, userVersion });
  }
  // A newer release migrated it (an update that then failed, and this release refuses it at
  // start). Copying it now would overwrite pre-update-<this release>.db, the one copy in a
  // schema this release reads, with a file it cannot read: a retried update would leave no
  // way back.
  if (userVersion > LATEST_SCHEMA_VERSION) {
    throw new DeviceError('DB_MIGRATION', 'device database is newer than this release: a newer release migrated it; not copied, so the backup taken before that migration is kept (restore it, or update with --no-backup to a release that reads it)', { path, found: userVersion, known: LATEST_SCHEMA_VERSION });
  }
  return userVersion;
}

function verifyCopy(tmp: string, out: string, bytes: number, maxFullCheckBytes: number): BackupResult['check'] {
  const check = bytes <= maxFullCheckBytes ? 'integrity_check' : 'quick_check';
  let messages: string[];
  let applicationId: unknown;
  let copy: Database.Database | undefined;
  try {
    copy = new Database(tmp, { fileMustExist: true });
    const rows = copy.pragma(`${check}(10)`) as Array<Record<string, unknown>>;
    messages = rows.map((r) => String(Object.values(r)[0]));
    applicationId = copy.pragma('application_id', { simple: true });
  } catch (err) {
    throw new DeviceError('BACKUP_FAILED', 'the backup copy could not be read back', { out, sqliteCode: sqliteCode(err) }, { cause: err });
  } finally {
    copy?.close();
  }
  if (messages.length !== 1 || messages[0] !== 'ok' || applicationId !== DEVICE_DB_APPLICATION_ID) {
    throw new DeviceError('BACKUP_FAILED', `the backup copy failed ${check}`, { out, messages });
  }
  return check;
}

// A power cut or a kill during an earlier copy leaves its temporary file (as big as the
// database) under another pid's name, which nothing else removes: on a nearly full card it
// would make every later backup, and so every update, fail. One copy to an `out` at a time
// (update.sh runs one), so any such file is a dead run's.
function removeStaleTemporaries(out: string): void {
  const stale = new RegExp(`^\\.${escapeRegExp(basename(out))}\\.tmp-\\d+(-wal|-shm|-journal)?$`);
  for (const name of readdirSync(dirname(out))) {
    if (stale.test(name)) rmSync(join(dirname(out), name), { force: true });
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
