import type { Clock, TimerHandle } from '@locker/hal/types.js';
import type { Logger } from '../logger.js';

// The systemd watchdog, fed only while the event loop is healthy. A tick is scheduled every
// quarter of WatchdogSec; each tick measures how late it fired. A loop that was blocked
// (a tick late by more than the threshold) skips that ping: a loop that keeps blocking for
// long stretches, with short gaps between, must not keep systemd convinced it is alive.

export interface WatchdogSettings {
  /** WatchdogSec in milliseconds. */
  watchdogMs: number;
  /** Time between ticks (a ping per healthy tick). */
  tickMs: number;
  /** A tick this late means the loop was blocked: no ping for it. */
  maxLagMs: number;
}

/**
 * The watchdog settings systemd passes (WATCHDOG_USEC, and WATCHDOG_PID when set must be ours),
 * or undefined when the unit has no watchdog.
 */
export function watchdogSettingsFromEnv(env: NodeJS.ProcessEnv, pid: number): WatchdogSettings | undefined {
  const usecText = env['WATCHDOG_USEC'];
  if (usecText === undefined || !/^[0-9]+$/.test(usecText)) return undefined;
  const pidText = env['WATCHDOG_PID'];
  if (pidText !== undefined && pidText !== String(pid)) return undefined;
  const watchdogMs = Math.floor(Number(usecText) / 1000);
  if (watchdogMs <= 0) return undefined;
  const quarter = Math.max(1, Math.floor(watchdogMs / 4));
  return { watchdogMs, tickMs: quarter, maxLagMs: quarter };
}

/** The pure decision of one tick: ping, or skip because the loop was late by too much. */
export function tickDecision(expectedAtMs: number, firedAtMs: number, maxLagMs: number): { ping: boolean; lagMs: number } {
  const lagMs = Math.max(0, firedAtMs - expectedAtMs);
  return { ping: lagMs <= maxLagMs, lagMs };
}

export interface EventLoopWatchdogDeps {
  clock: Pick<Clock, 'monotonicMs' | 'setTimeout' | 'clearTimeout'>;
  settings: WatchdogSettings;
  ping: () => void;
  logger: Logger;
}

export class EventLoopWatchdog {
  private timer: TimerHandle | undefined;
  private expectedAt = 0;
  private skipped = 0;
  private readonly log: Logger;

  constructor(private readonly deps: EventLoopWatchdogDeps) {
    this.log = deps.logger.child({ component: 'watchdog' });
  }

  /** Pings at once (the loop is evidently running) and then on every healthy tick. */
  start(): void {
    if (this.timer !== undefined) return;
    this.deps.ping();
    this.schedule();
    this.log.info({ ...this.deps.settings }, 'watchdog.started');
  }

  stop(): void {
    if (this.timer === undefined) return;
    this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const { clock, settings } = this.deps;
    this.expectedAt = clock.monotonicMs() + settings.tickMs;
    this.timer = clock.setTimeout(() => this.tick(), settings.tickMs);
  }

  private tick(): void {
    const { clock, settings } = this.deps;
    const { ping, lagMs } = tickDecision(this.expectedAt, clock.monotonicMs(), settings.maxLagMs);
    if (ping) {
      if (this.skipped > 0) this.log.info({ skipped: this.skipped }, 'watchdog.loop-recovered');
      this.skipped = 0;
      this.deps.ping();
    } else {
      this.skipped += 1;
      this.log.warn({ lagMs, maxLagMs: settings.maxLagMs }, 'watchdog.loop-blocked');
    }
    this.schedule();
  }
}
