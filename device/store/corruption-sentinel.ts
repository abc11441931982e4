import { closeSync, existsSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

// The restart after corruption met at runtime (corruption-guard.ts) is meant to refuse the
// file at its integrity check. Above integrityCheckMaxBytes that check is only quick_check,
// which does not compare indexes with their tables: the SQLITE_CORRUPT_INDEX a pickup met
// passes it, the locker serves again until the next customer meets the same damage, exits,
// and so on, each exit switching off a door another customer may be opening. So the first
// corruption leaves this file beside the database, and the next open runs the full
// integrity_check whatever the size. It goes only when that check passes (a file found
// sound, a restored backup) or the database file is gone (started fresh): a failed check
// leaves it, so no later restart falls back to quick_check on the same damaged file.

const sentinelPath = (dbPath: string): string => `${dbPath}.corrupt`;

/** Written when the running store meets corruption; never throws (the exit must not wait on a failing card). */
export function writeCorruptionSentinel(dbPath: string, details: { sqliteCode: string | undefined; where: string; at: number }): boolean {
  try {
    const fd = openSync(sentinelPath(dbPath), 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(details));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // The name too: a brown-out (the usual cause of the corruption) may follow within the
    // seconds before the file system commits the new directory entry by itself, and a
    // restart without the sentinel would check the damaged file with quick_check only.
    const dir = openSync(dirname(sentinelPath(dbPath)), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    return true;
  } catch {
    return false;
  }
}

export function hasCorruptionSentinel(dbPath: string): boolean {
  return existsSync(sentinelPath(dbPath));
}

export function clearCorruptionSentinel(dbPath: string): void {
  rmSync(sentinelPath(dbPath), { force: true });
}
