import type { Logger } from '../logger.js';

// An exception nothing caught, or a promise rejection nobody handled, is a bug: input is
// refused long before it could throw this far. Node would print a stack to stderr and exit
// at once, leaving the GPIO lines as they were (sysfs keeps an exported line's value after
// its process is gone): a relay caught mid-pulse would keep its solenoid powered, and its
// door unlocked, until systemd's restart (RestartSec) switched it off again. Instead the
// crash is logged as one fatal line with its fields, every relay is switched off (within a
// bound: a hung driver must not keep a crashed process alive), and the process exits 1 for
// systemd to restart it into a consistent state (the store's recovery does the rest).

export const CRASH_RELAYS_OFF_BOUND_MS = 1_000;

export interface CrashExitDeps {
  logger: Logger;
  /** Every relay off; undefined until the hardware exists. */
  relaysOff: () => Promise<void> | undefined;
  exit: (code: number) => void;
  boundMs?: number;
}

/**
 * The fatal path: `event` logged once at fatal level with `fields`, every relay off (within
 * the bound), exit 1. Called again while exiting, it only logs `device.crash-while-exiting`.
 * Shared by the uncaught-exception handler and a database found corrupt at runtime (main.ts).
 */
export type CrashExit = (event: string, fields: Record<string, unknown>) => void;

export function createCrashExit(deps: CrashExitDeps): CrashExit {
  let crashing = false;
  return (event, fields) => {
    // A second failure while switching off (the driver itself throwing) changes nothing: already on the way out.
    if (crashing) {
      deps.logger.error({ ...fields, event }, 'device.crash-while-exiting');
      return;
    }
    crashing = true;
    deps.logger.fatal(fields, event);
    let settled = false;
    const finish = (relaysOff: boolean, relayErr?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(bound);
      deps.logger.fatal({ relaysOff, ...(relayErr === undefined ? {} : { relayErr }) }, 'device.crash-exit');
      deps.exit(1);
    };
    // Not unref'd: this timer is what ends the process when the driver hangs. Unref'd, a
    // loop with nothing else pending would end with exit code 0 (the error was handled),
    // without device.crash-exit, and the pending promise of a hung driver keeps nothing alive.
    const bound = setTimeout(() => finish(false, new Error(`relays not confirmed off within ${String(deps.boundMs ?? CRASH_RELAYS_OFF_BOUND_MS)} ms`)), deps.boundMs ?? CRASH_RELAYS_OFF_BOUND_MS);
    let pending: Promise<void> | undefined;
    try {
      pending = deps.relaysOff();
    } catch (e) {
      finish(false, e);
      return;
    }
    if (pending === undefined) {
      finish(false, new Error('no hardware yet'));
      return;
    }
    pending.then(
      () => finish(true),
      (e: unknown) => finish(false, e),
    );
  };
}

/** Installs the handler (sharing `crash` with other fatal paths); returns its removal (tests). */
export function exitOnCrash(deps: CrashExitDeps, crash: CrashExit = createCrashExit(deps)): () => void {
  const onCrash = (err: unknown, origin: NodeJS.UncaughtExceptionOrigin): void => crash('device.crashed', { err, origin });
  process.on('uncaughtException', onCrash);
  return () => process.off('uncaughtException', onCrash);
}
