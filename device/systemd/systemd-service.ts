import type { Clock } from '@locker/hal/types.js';
import type { Logger } from '../logger.js';
import { createNotifier, type Notifier, type NotifierOptions } from './sd-notify.js';
import { EventLoopWatchdog, watchdogSettingsFromEnv } from './watchdog.js';

// What the device process tells systemd (Type=notify, WatchdogSec): READY once the relays
// are off and the store is open, WATCHDOG pings while the event loop is healthy, STOPPING
// on SIGTERM. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.

export interface SystemdService {
  /** READY=1 with a status line, then the watchdog starts (if the unit has one). */
  ready(status: string): void;
  /** STOPPING=1: systemd now waits up to TimeoutStopSec. The watchdog keeps pinging. */
  stopping(status: string): void;
  close(): Promise<void>;
}

export interface SystemdServiceOptions {
  env: NodeJS.ProcessEnv;
  pid: number;
  clock: Pick<Clock, 'monotonicMs' | 'setTimeout' | 'clearTimeout'>;
  logger: Logger;
  spawnRelay?: NotifierOptions['spawnRelay'];
}

export function createSystemdService(options: SystemdServiceOptions): SystemdService {
  const { env, pid, clock, logger } = options;
  const notifier: Notifier = createNotifier({ env, logger, ...(options.spawnRelay === undefined ? {} : { spawnRelay: options.spawnRelay }) });
  const settings = notifier.enabled ? watchdogSettingsFromEnv(env, pid) : undefined;
  const watchdog = settings === undefined ? undefined : new EventLoopWatchdog({ clock, settings, logger, ping: () => notifier.notify('WATCHDOG=1') });
  const log = logger.child({ component: 'systemd' });
  return {
    ready(status) {
      if (!notifier.enabled) return;
      notifier.notify(`READY=1\nSTATUS=${oneLine(status)}`);
      log.info({ watchdogMs: settings?.watchdogMs }, 'systemd.ready-sent');
      watchdog?.start();
    },
    stopping(status) {
      notifier.notify(`STOPPING=1\nSTATUS=${oneLine(status)}`);
    },
    async close() {
      watchdog?.stop();
      await notifier.close();
    },
  };
}

/** A newline would start another assignment. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
