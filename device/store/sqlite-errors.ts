import { DeviceError } from '../errors.js';

// better-sqlite3 throws SqliteError with an extended result code in `code`
// ("SQLITE_CORRUPT_INDEX", "SQLITE_IOERR_SHORT_READ"...); Node's fs throws errno codes.
// Opening maps both to the two codes the runtime acts on: DB_CORRUPT (the file is not
// a healthy device database: restore or re-provision) and DB_UNREADABLE (the file cannot
// be reached: permissions, a directory, a full or read-only disk).

export function sqliteCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function isCorruptionCode(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

export function isUnreadableCode(code: string | undefined): boolean {
  if (code === undefined) return false;
  return (
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_READONLY') ||
    code === 'SQLITE_PERM' ||
    code === 'SQLITE_AUTH' ||
    code === 'SQLITE_FULL' ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EISDIR' ||
    code === 'ENOTDIR' ||
    code === 'ENOENT'
  );
}

/**
 * A write the storage refused while the database itself is fine: the card or partition is
 * full (SQLITE_FULL, or the file system's ENOSPC), an I/O error (SQLITE_IOERR_*), or it
 * went read-only. SQLite rolled the statement's transaction back; the same write can
 * succeed once space is freed.
 */
export function isStorageWriteFailure(err: unknown): boolean {
  const code = sqliteCode(err);
  if (code === undefined) return false;
  return isOutOfSpace(err) || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY');
}

/**
 * The write failed for lack of space (SQLite's SQLITE_FULL, which is how it reports the
 * file system's ENOSPC, or ENOSPC itself): what freeing space (the storage reserve) cures,
 * unlike an I/O error or a read-only card.
 */
export function isOutOfSpace(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 'SQLITE_FULL' || code === 'ENOSPC';
}

export function isUniqueViolation(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Wraps an error thrown while opening into the DeviceError the caller switches on. */
export function openFailure(err: unknown, path: string, stage: string): DeviceError {
  if (err instanceof DeviceError) return err;
  const code = sqliteCode(err);
  const details = { path, stage, sqliteCode: code };
  if (isCorruptionCode(code)) {
    return new DeviceError('DB_CORRUPT', `device database is corrupt or not a database (${stage})`, details, { cause: err });
  }
  if (isUnreadableCode(code)) {
    return new DeviceError('DB_UNREADABLE', `device database cannot be read or written (${stage})`, details, { cause: err });
  }
  return new DeviceError('DB_UNREADABLE', `device database failed to open (${stage})`, details, { cause: err });
}
