// The poll schedule the polling side works from (tracking/polling/): one row per tracking
// number that may need polling. Due rows are leased to one poller at a time, so several
// instances never poll the same number at once; a lease that lapses (the instance died)
// makes the row due again. Implemented over SqlExecutor in store/sql/poll-schedule-repository.ts.

export interface PollScheduleEntry {
  trackingNumber: string;
  carrier: string;
  /** Event time of the newest applied event, when known. */
  lastEventAt: number | undefined;
  /** When a webhook last brought news for this number. */
  lastWebhookAt: number | undefined;
  nextPollAt: number;
  /** Consecutive failed polls (backoff input). */
  failures: number;
}

export interface PollSchedule {
  /** Adds the number if absent (an existing row keeps its schedule); true when added. */
  ensure(e: { trackingNumber: string; carrier: string; nextPollAt: number }): Promise<boolean>;
  get(trackingNumber: string): Promise<PollScheduleEntry | undefined>;
  /** Due rows (next_poll_at ≤ now, not leased), earliest first, leased until now + leaseMs. */
  claimDue(now: number, limit: number, leaseMs: number): Promise<PollScheduleEntry[]>;
  /** Sets the next poll and failure count and ends the lease; lastEventAt only moves forward. */
  reschedule(trackingNumber: string, r: { nextPollAt: number; failures: number; lastEventAt?: number | undefined }): Promise<boolean>;
  /** Records that a webhook brought news at `at` (never moves back). */
  noteWebhook(trackingNumber: string, at: number): Promise<boolean>;
  /** noteWebhook for many numbers at once (the applier, per batch); resolves to the rows changed. */
  noteWebhooks(trackingNumbers: readonly string[], at: number): Promise<number>;
  remove(trackingNumber: string): Promise<boolean>;
}
