import type { Logger } from '../logger.js';
import type { SqliteDatabase } from './open-database.js';

// Returning pruned space to the file system without a long blocking VACUUM: the file uses
// auto_vacuum=INCREMENTAL, and the retention sweep releases a bounded number of free pages
// per run (`PRAGMA incremental_vacuum(N)`, milliseconds for a few thousand pages). With
// auto_vacuum=NONE freed pages are only reused, so the file never shrinks below its peak.
//
// auto_vacuum can only change on a file without tables or through one VACUUM: a new file
// gets it for free (the VACUUM of an empty schema is instant); a file created by older
// firmware is rewritten once at open. That VACUUM needs the file's size again in free disk
// space: when it fails the store runs on with auto_vacuum=NONE (logged), which is correct,
// only not shrinking.

const INCREMENTAL = 2;

export type VacuumModeChange = 'already-incremental' | 'converted' | 'failed';

export function ensureIncrementalVacuum(db: SqliteDatabase, log: Logger): VacuumModeChange {
  if (db.pragma('auto_vacuum', { simple: true }) === INCREMENTAL) return 'already-incremental';
  const started = performance.now();
  try {
    db.pragma('auto_vacuum = INCREMENTAL');
    db.exec('VACUUM');
  } catch (err) {
    log.warn({ err }, 'db.auto-vacuum-conversion-failed');
    return 'failed';
  }
  if (db.pragma('auto_vacuum', { simple: true }) !== INCREMENTAL) {
    log.warn({}, 'db.auto-vacuum-conversion-failed');
    return 'failed';
  }
  log.info({ ms: Math.round(performance.now() - started) }, 'db.auto-vacuum-incremental');
  return 'converted';
}

/** Releases up to `maxPages` free pages to the file system; returns how many were released. */
export function reclaimFreePages(db: SqliteDatabase, maxPages: number): number {
  const pages = Math.max(0, Math.trunc(maxPages));
  if (pages === 0 || db.pragma('auto_vacuum', { simple: true }) !== INCREMENTAL) return 0;
  const before = Number(db.pragma('freelist_count', { simple: true }));
  if (before === 0) return 0;
  db.pragma(`incremental_vacuum(${String(pages)})`);
  return before - Number(db.pragma('freelist_count', { simple: true }));
}
