import type { SyncContext } from './sync-context.js';

// The device's storage refusing a write (a full SD card, an I/O error, a read-only card)
// is not a bug in the agent: the database is fine, reads work, and the same write succeeds
// once space is back. A handler of an inbound message that lets such an error reach the
// agent's error boundary restarts the MQTT session, and the backend, which re-sends on the
// new birth message, gets the same refusal again: the locker flaps offline and online for
// as long as the disk is full, and its replies and health reports are cut off with it. So
// every storage write made for an inbound message goes through attemptWrite: a refusal is
// returned for the handler to log and decide on (not applied, answered anyway, retried
// later), anything else still goes to the boundary.

/** The code of a typed error (DeviceError, SqliteError: "DB_WRITE_FAILED", "SQLITE_FULL"), if it has one. */
export function errorCodeOf(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : undefined;
}

/**
 * A write the storage refused while the database is fine (no room, an I/O error, a
 * read-only card): the device's DB_WRITE_FAILED, or the SQLite / file system code behind it
 * (the device's isStorageWriteFailure, which the agent cannot import). Anything else is a
 * bug and goes to the agent's error boundary.
 */
export function isStorageRefusal(code: string | undefined): boolean {
  if (code === undefined) return false;
  return code === 'DB_WRITE_FAILED' || code === 'SQLITE_FULL' || code === 'ENOSPC' || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY');
}

export type WriteAttempt<T> =
  | { written: true; value: T }
  /** Nothing was written (the port's writes are transactional); `storageCode` is the device's or SQLite's code. */
  | { written: false; storageCode: string; err: unknown };

function refusalOf(err: unknown): { written: false; storageCode: string; err: unknown } {
  const code = errorCodeOf(err);
  if (code === undefined || !isStorageRefusal(code)) throw err;
  return { written: false, storageCode: code, err };
}

/** Runs a device write; a refusal by the storage is returned, any other error thrown. */
export function attemptWrite<T>(write: () => T): WriteAttempt<T> {
  try {
    return { written: true, value: write() };
  } catch (err) {
    return refusalOf(err);
  }
}

/** The same for a write that settles later (a code batch applied in slices). */
export async function attemptWriteAsync<T>(write: () => Promise<T>): Promise<WriteAttempt<T>> {
  try {
    return { written: true, value: await write() };
  } catch (err) {
    return refusalOf(err);
  }
}

/**
 * The issue time of a verified backend message raises the trusted-time floor: a write
 * (the floor, and a `clock.signed-time` record when it confirms or corrects the clock).
 * Best effort for every handler: a full disk must not stop the message itself from being
 * handled (an ack refused, a command answered), and the next signed message tries again.
 */
export function observeSignedTime(ctx: SyncContext, epochMs: number, source: string): void {
  const r = attemptWrite(() => ctx.port.observeTrustedTime(epochMs, source));
  if (!r.written) ctx.logger.warn({ source, epochMs, errorCode: 'DB_WRITE_FAILED', storageCode: r.storageCode }, 'clock.signed-time-unrecorded');
}
