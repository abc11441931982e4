import type { Logger } from './logger.js';

// Runs periodic housekeeping tasks (hold expiry, pickup-window expiry, outbox, refunds).
// Time-dependent logic reads the injected clock inside each task, so tests call tick()
// after moving a fake clock instead of waiting for timers. A task that throws (or rejects)
// is logged and does not stop the others. Passes never overlap: a tick while one runs
// shares it, so no task ever runs twice at once in this process (other instances are kept
// apart by the database: row claims, leases and conditional writes in each task).

export interface SweepTask {
  name: string;
  /** One pass of the task; resolves to how many items it handled. */
  run(): Promise<number>;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly tasks: readonly SweepTask[],
    private readonly intervalMs: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'sweeper' });
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** One pass over every task; overlapping calls share the pass in flight. */
  tick(): Promise<void> {
    this.ticking ??= this.pass().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    for (const t of this.tasks) {
      try {
        await t.run();
      } catch (err) {
        this.log.error({ task: t.name, err: err instanceof Error ? err.message : String(err) }, 'sweeper.task_failed');
      }
    }
  }
}
