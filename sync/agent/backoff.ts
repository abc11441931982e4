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
