// Exponential backoff with jitter for reconnects and restarts. Pure: the random draw comes
// in, so tests pin it. Jitter spreads a fleet of lockers that lost the same broker at the
// same moment, so they do not all come back in the same millisecond.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** 0 = none, 1 = full jitter (uniform in [0, delay]). */
  jitter: number;
}

/** Delay before attempt `attempt` (0 = first retry). `random` in [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  const jittered = exp * (1 - policy.jitter * random);
  return Math.max(1, Math.round(jittered));
}

export interface ReconnectPolicy extends BackoffPolicy {
  /**
   * Cap on the delay while the connection that was lost had been healthy, for
   * `promptWindowMs` after the loss: a broker restart is the usual cause, and the locker
   * should be back within about this long once the broker is, not after a backoff that grew
   * while it was down. Beyond the window (a long outage) the plain exponential policy applies.
   */
  promptMaxMs: number;
  promptWindowMs: number;
}

/**
 * Delay before reconnect attempt `attempt`. `sinceHealthyLossMs` is the time since a
 * healthy connection was lost, undefined when the last connection never became healthy
 * (or none ever did): then the plain backoff.
 */
export function reconnectDelay(attempt: number, policy: ReconnectPolicy, random: number, sinceHealthyLossMs: number | undefined): number {
  if (sinceHealthyLossMs === undefined || sinceHealthyLossMs >= policy.promptWindowMs) return backoffDelay(attempt, policy, random);
  const maxMs = Math.min(policy.maxMs, policy.promptMaxMs);
  return backoffDelay(attempt, { initialMs: Math.min(policy.initialMs, maxMs), maxMs, jitter: policy.jitter }, random);
}
