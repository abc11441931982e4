// The numbers behind the keypad lockout (docs/security.md, docs/decisions/0003).
//
// A random guess of an n-digit code opens some door with probability at most
// liveCodes / 10^n (one chance per live code). With G guesses per day the chance that
// guessing opens any door that day is at most G · liveCodes / 10^n (union bound). The
// daily failure budget is the largest G that keeps this at or below the target.

export interface LockoutPolicy {
  /**
   * Consecutive failures that cost nothing (typos): with 3, the first three wrong codes
   * are free and the 4th locks the keypad for firstLockoutMs.
   */
  freeAttempts: number;
  /** The lockout the (freeAttempts + 1)th consecutive failure starts; each further failure doubles it. */
  firstLockoutMs: number;
  maxLockoutMs: number;
  /** Consecutive-failure count forgets after this long (device-awake time) without a failure. */
  quietResetMs: number;
  /** Hard cap on failures per rolling window of device-awake time. */
  dailyFailureBudget: number;
  /** The rolling window: 24 h. */
  windowMs: number;
}

export const DAY_MS = 86_400_000;

/** floor(target · 10^n / liveCodes): failures per day that keep P(any door) ≤ target. */
export function dailyFailureBudgetFor(codeLength: number, maxLiveCodes: number, targetProbability: number): number {
  return Math.floor((targetProbability * 10 ** codeLength) / maxLiveCodes);
}

/** Upper bound on P(random guessing opens any door in one day) under a budget. */
export function dailyBreakProbability(codeLength: number, liveCodes: number, budget: number): number {
  return (budget * liveCodes) / 10 ** codeLength;
}

export interface LockoutPolicyParams {
  codeLength: number;
  maxLiveCodes: number;
  targetDailyProbability: number;
  freeAttempts: number;
  firstLockoutMs: number;
  maxLockoutMs: number;
  quietResetMs: number;
  /** Never allow more than this many failures a day, even for long codes. */
  budgetCeiling: number;
}

export function lockoutPolicyFor(p: LockoutPolicyParams): LockoutPolicy {
  const budget = Math.min(p.budgetCeiling, dailyFailureBudgetFor(p.codeLength, p.maxLiveCodes, p.targetDailyProbability));
  return {
    freeAttempts: p.freeAttempts,
    firstLockoutMs: p.firstLockoutMs,
    maxLockoutMs: p.maxLockoutMs,
    quietResetMs: p.quietResetMs,
    dailyFailureBudget: budget,
    windowMs: DAY_MS,
  };
}
