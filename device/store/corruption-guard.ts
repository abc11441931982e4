import { DeviceError } from '../errors.js';
import { isCorruptionCode, sqliteCode } from './sqlite-errors.js';

// A database damaged WHILE the device runs (SD-card bit rot, a torn page after a brown-out
// on a card that lies about fsync) makes statements throw SQLITE_CORRUPT / SQLITE_NOTADB
// from wherever they run: a pickup, a deposit, a door event, the sync agent, a sweep. Each
// of those has its own error boundary, which logs and carries on: every customer turned
// away with "something went wrong" by a locker that still looks up. So the store is
// guarded in one place: the first corruption any of its methods meets is reported once
// (the process treats it as fatal, main.ts), and from then on every call is refused with
// DB_CORRUPT without touching the file, so nothing else is decided on damaged data and no
// door can open (its journal write comes first) in the moments before the process exits.
// Ordinary write refusals (SQLITE_FULL, SQLITE_IOERR_*, read-only) are not corruption and
// pass through untouched to storage-health.ts.

export interface CorruptionReport {
  /** SQLite's extended result code (SQLITE_CORRUPT_INDEX, SQLITE_NOTADB...). */
  sqliteCode: string | undefined;
  /** The store method that met it. */
  where: string;
  /** DB_CORRUPT, with the SQLite error as its cause. */
  error: DeviceError;
}

export interface CorruptionGuardOptions {
  /** Called once, with the first corruption met. */
  onCorrupt: (report: CorruptionReport) => void;
  /**
   * What `close()` does once corruption was met: close without the clean-shutdown marker,
   * which would let the next start skip the integrity check that must refuse this file.
   */
  closeUnmarked: () => void;
}

/** True for the DB_CORRUPT a guarded store throws (and for any DeviceError DB_CORRUPT). */
export function isDatabaseCorrupt(err: unknown): boolean {
  return err instanceof DeviceError && err.code === 'DB_CORRUPT';
}

/** Returns `target` with every method guarded (a Proxy; getters and fields pass through). */
export function guardCorruption<T extends object>(target: T, options: CorruptionGuardOptions): T {
  let seen: CorruptionReport | undefined;
  const wrappers = new Map<PropertyKey, { method: unknown; wrapper: (...args: unknown[]) => unknown }>();

  const convert = (err: unknown, where: string): unknown => {
    if (isDatabaseCorrupt(err)) return err;
    const code = sqliteCode(err);
    if (!isCorruptionCode(code)) return err;
    const error = new DeviceError('DB_CORRUPT', 'device database is corrupt (met at runtime)', { sqliteCode: code, where }, { cause: err });
    if (seen === undefined) {
      seen = { sqliteCode: code, where, error };
      options.onCorrupt(seen);
    }
    return error;
  };

  const wrap = (prop: string, method: (...args: unknown[]) => unknown) => (...args: unknown[]): unknown => {
    if (seen !== undefined) {
      if (prop === 'close') return options.closeUnmarked();
      throw new DeviceError('DB_CORRUPT', 'device database is corrupt: store refused', { sqliteCode: seen.sqliteCode, where: prop, firstSeenIn: seen.where });
    }
    let result: unknown;
    try {
      result = method.apply(target, args);
    } catch (err) {
      throw convert(err, prop);
    }
    // applyCodeBatchInSlices: its statements run after this call returned.
    if (result instanceof Promise) {
      return result.catch((err: unknown) => {
        throw convert(err, prop);
      });
    }
    return result;
  };

  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== 'function' || typeof prop !== 'string' || prop === 'constructor') return value;
      // Keyed by the function as well: a method replaced on the store (a test's stub, a
      // wrapper installed later) must be the one called, still guarded.
      const cached = wrappers.get(prop);
      if (cached !== undefined && cached.method === value) return cached.wrapper;
      const wrapper = wrap(prop, value as (...args: unknown[]) => unknown);
      wrappers.set(prop, { method: value, wrapper });
      return wrapper;
    },
  });
}
