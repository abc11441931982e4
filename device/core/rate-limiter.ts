import { z } from 'zod';
import type { LockoutPolicy } from './lockout-policy.js';

// Keypad-wide failed-attempt policy with escalating lockouts and a daily failure budget.
// Pure; the runtime persists the state (store.saveState) after every step that says so.
//
// Time is DEVICE-AWAKE time: monotonic milliseconds accumulated across boots and
// checkpointed to the store. Power-off time does not count and wall-clock jumps cannot
// move it, so neither a reboot nor a clock change can shorten a lockout (a lost checkpoint
// only makes the device think less time passed: lockouts get longer, never shorter).
//
// "Charge first, refund on success": an attempt is recorded as a failure BEFORE the code is
// looked up, and refunded only if it opens something. The runtime persists the charged
// state together with whatever reveals the outcome (the failure message, or the open
// journal entry before the pulse), so cutting the power after Enter reveals nothing that
// was not counted. A charge persisted while still pending stays a failure on reload.

export const RateLimiterState = z
  .object({
    v: z.literal(1),
    /** Awake-time stamps of failures still inside the window, ascending. */
    failures: z.array(z.number()),
    consecutive: z.number().int().nonnegative(),
    lockedUntil: z.number(),
    lastFailureAt: z.number().optional(),
    /** An attempt charged and not yet resolved (a crash in between leaves it charged). */
    pending: z
      .object({ prevLockedUntil: z.number(), prevConsecutive: z.number().int().nonnegative(), prevLastFailureAt: z.number().optional() })
      .optional(),
  })
  .strict();
export type RateLimiterState = z.infer<typeof RateLimiterState>;

export const initialRateLimiterState: RateLimiterState = { v: 1, failures: [], consecutive: 0, lockedUntil: 0 };

/**
 * success: the attempt opened something (refund, escalation reset).
 * failure: it counts (kept).
 * neutral: it neither opened nor counts - a correct code in a wrong state, or a door busy
 *   with another operation. Only the pending charge is refunded: the escalation stays where
 *   the failures before it left it. Resetting it here would let a guesser interleave his
 *   own not-yet-deposited code between guesses and never reach a lockout.
 */
export type AttemptResult = 'success' | 'failure' | 'neutral';

export type RateLimiterInput =
  | { type: 'attempt' }
  | { type: 'outcome'; result: AttemptResult };

export type LockoutReason = 'escalation' | 'daily-budget';

export type RateLimiterEffect =
  | { type: 'persist' }
  | { type: 'allowed' }
  | { type: 'refused-locked'; remainingMs: number }
  | { type: 'locked-out'; reason: LockoutReason; lockoutMs: number; consecutive: number; failuresInWindow: number };

export interface RateLimiterStep {
  state: RateLimiterState;
  effects: RateLimiterEffect[];
}

export function lockoutRemainingMs(state: RateLimiterState, awakeNow: number): number {
  return Math.max(0, state.lockedUntil - awakeNow);
}

function prune(failures: readonly number[], awakeNow: number, policy: LockoutPolicy): number[] {
  return failures.filter((t) => t > awakeNow - policy.windowMs);
}

function escalationMs(consecutive: number, policy: LockoutPolicy): number {
  if (consecutive <= policy.freeAttempts) return 0;
  const doublings = Math.min(consecutive - policy.freeAttempts - 1, 30);
  return Math.min(policy.maxLockoutMs, policy.firstLockoutMs * 2 ** doublings);
}

/** Where the lockout would end after a failure at `awakeNow` (never earlier than before). */
function lockAfterFailure(state: RateLimiterState, awakeNow: number, policy: LockoutPolicy): { until: number; reason: LockoutReason | undefined } {
  let until = state.lockedUntil;
  let reason: LockoutReason | undefined;
  const escalation = escalationMs(state.consecutive, policy);
  if (escalation > 0 && awakeNow + escalation > until) {
    until = awakeNow + escalation;
    reason = 'escalation';
  }
  // With B failures in the window, no attempt until the oldest of the last B leaves it.
  const n = state.failures.length;
  if (n >= policy.dailyFailureBudget) {
    const oldest = state.failures[n - policy.dailyFailureBudget] ?? awakeNow;
    const budgetEnd = oldest + policy.windowMs;
    if (budgetEnd > until) {
      until = budgetEnd;
      reason = 'daily-budget';
    }
  }
  return { until, reason };
}

export function rateLimiterStep(state: RateLimiterState, input: RateLimiterInput, awakeNow: number, policy: LockoutPolicy): RateLimiterStep {
  if (input.type === 'attempt') {
    const remaining = lockoutRemainingMs(state, awakeNow);
    if (remaining > 0) return { state, effects: [{ type: 'refused-locked', remainingMs: remaining }] };
    const quiet = state.lastFailureAt === undefined || awakeNow - state.lastFailureAt >= policy.quietResetMs;
    const charged: RateLimiterState = {
      v: 1,
      failures: [...prune(state.failures, awakeNow, policy), awakeNow],
      consecutive: (quiet ? 0 : state.consecutive) + 1,
      lockedUntil: state.lockedUntil,
      lastFailureAt: awakeNow,
      pending: {
        prevLockedUntil: state.lockedUntil,
        prevConsecutive: state.consecutive,
        ...(state.lastFailureAt === undefined ? {} : { prevLastFailureAt: state.lastFailureAt }),
      },
    };
    const lock = lockAfterFailure(charged, awakeNow, policy);
    return { state: { ...charged, lockedUntil: lock.until }, effects: [{ type: 'persist' }, { type: 'allowed' }] };
  }
  const { result } = input;
  const { pending, ...rest } = state;
  if (pending === undefined) return { state, effects: [] };
  if (result === 'neutral') {
    // Undo exactly what the charge did: its failure stamp, its step up the escalation and
    // the lockout it may have set. Earlier failures keep counting.
    const restored: RateLimiterState = {
      v: 1,
      failures: rest.failures.slice(0, -1),
      consecutive: pending.prevConsecutive,
      lockedUntil: pending.prevLockedUntil,
      ...(pending.prevLastFailureAt === undefined ? {} : { lastFailureAt: pending.prevLastFailureAt }),
    };
    return { state: restored, effects: [{ type: 'persist' }] };
  }
  if (result === 'success') {
    // Refund the charge. A success proves a real code, so typos before it are forgiven;
    // the earlier failures stay in the daily window.
    const failures = rest.failures.slice(0, -1);
    return { state: { v: 1, failures, consecutive: 0, lockedUntil: pending.prevLockedUntil }, effects: [{ type: 'persist' }] };
  }
  const effects: RateLimiterEffect[] = [{ type: 'persist' }];
  if (rest.lockedUntil > pending.prevLockedUntil && rest.lockedUntil > awakeNow) {
    const escalation = escalationMs(rest.consecutive, policy);
    const reason: LockoutReason = awakeNow + escalation >= rest.lockedUntil ? 'escalation' : 'daily-budget';
    effects.push({ type: 'locked-out', reason, lockoutMs: Math.ceil(rest.lockedUntil - awakeNow), consecutive: rest.consecutive, failuresInWindow: rest.failures.length });
  }
  return { state: rest, effects };
}

/**
 * Reads the persisted state. A charge left pending by a crash stays a failure. A blob that
 * does not parse fails closed: treated as a fresh maximal lockout, never as "no failures".
 */
export function loadRateLimiterState(json: string | undefined, awakeNow: number, policy: LockoutPolicy): { state: RateLimiterState; corrupt: boolean } {
  if (json === undefined) return { state: initialRateLimiterState, corrupt: false };
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    parsed = undefined;
  }
  const result = RateLimiterState.safeParse(parsed);
  if (!result.success) {
    return { state: { ...initialRateLimiterState, lockedUntil: awakeNow + policy.maxLockoutMs }, corrupt: true };
  }
  const { pending: _pending, ...state } = result.data;
  return { state, corrupt: false };
}
