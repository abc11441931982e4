import {
  lockoutRemainingMs,
  loadRateLimiterState,
  rateLimiterStep,
  type AttemptResult,
  type RateLimiterEffect,
  type RateLimiterInput,
  type RateLimiterState,
} from '../core/rate-limiter.js';
import type { LockoutPolicy } from '../core/lockout-policy.js';
import type { Logger } from '../logger.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { TrustedTime } from './trusted-time.js';

// Runs the keypad rate limiter against the store. Every persisted step writes the limiter
// state and the awake-time checkpoint in one transaction, so the two can never disagree
// after a power cut in a way that shortens a lockout.
//
// Record before reveal: the charge of an attempt is kept in memory and made durable
// together with whatever reveals the attempt's outcome - the failure record before the
// "not valid" message, or the open journal entry before the relay pulse (one commit, so
// one fsync on the keypad-to-relay path). A power cut before that commit reveals nothing
// (no pulse, no message), so it cannot buy an uncounted guess.

const KEY = 'rate-limiter';

/** The guard's memory before a step, to run that step again after its transaction rolled back. */
export interface GuardMark {
  readonly state: RateLimiterState;
  readonly begun: number;
}

export class KeypadGuard {
  private state: RateLimiterState | undefined;
  /** The JSON last written: a refund that restores it writes nothing (keypad hot path). */
  private persisted: string | undefined;
  /** Lockouts begun since this process started (health report); counted once committed. */
  private begun = 0;

  constructor(
    private readonly store: RuntimeStore,
    private readonly time: TrustedTime,
    private readonly policy: LockoutPolicy,
    private readonly log: Logger,
  ) {}

  start(): void {
    const stored = this.store.loadState(KEY);
    const { state, corrupt } = loadRateLimiterState(stored, this.time.awakeNow(), this.policy);
    this.state = state;
    this.persisted = corrupt ? undefined : JSON.stringify(state);
    if (corrupt) {
      this.log.error({}, 'keypad.limiter-state-corrupt');
      this.store.transaction(() => {
        this.persist();
        this.store.appendAudit('keypad.lockout', 'priority', { reason: 'state-corrupt', lockoutMs: this.policy.maxLockoutMs });
      });
      this.begun++;
    }
  }

  /** Charges an attempt (in memory) before the lookup; refused while locked out. */
  attempt(): { allowed: true } | { allowed: false; remainingMs: number } {
    const effects = this.step({ type: 'attempt' }, false);
    const refused = effects.find((e) => e.type === 'refused-locked');
    if (refused?.type === 'refused-locked') return { allowed: false, remainingMs: refused.remainingMs };
    return { allowed: true };
  }

  /**
   * Resolves the charged attempt and persists the result (call it inside the transaction
   * that reveals the outcome). Returns the new lockout, if this failure started one.
   * 'neutral' (a correct code in a wrong state, a busy door) refunds the charge without
   * resetting the escalation.
   */
  outcome(result: AttemptResult): { lockoutMs: number } | undefined {
    const effects = this.step({ type: 'outcome', result });
    const locked = effects.find((e) => e.type === 'locked-out');
    return locked?.type === 'locked-out' ? { lockoutMs: locked.lockoutMs } : undefined;
  }

  /**
   * What the guard holds now. A step made inside a caller's transaction that is rolled back
   * and run again (storage-health.ts commitOrThrow, after the storage reserve made room)
   * must start from here: the first run already resolved the charge in memory, so the
   * second would find nothing to resolve and persist no failure (a free guess).
   */
  mark(): GuardMark {
    return { state: this.current(), begun: this.begun };
  }

  /**
   * Back to `mark` (nothing to do if no step came since: the first run of a transaction).
   * What is on disk is no longer known then, so the next persist writes.
   */
  restore(mark: GuardMark): void {
    if (this.state === mark.state && this.begun === mark.begun) return;
    this.state = mark.state;
    this.begun = mark.begun;
    this.persisted = undefined;
  }

  status(): { active: boolean; remainingMs: number; failures: number } {
    const state = this.current();
    const remainingMs = lockoutRemainingMs(state, this.time.awakeNow());
    return { active: remainingMs > 0, remainingMs, failures: state.failures.length };
  }

  /** Keypad lockouts begun since this process started. */
  lockoutsBegun(): number {
    return this.begun;
  }

  private current(): RateLimiterState {
    this.state ??= loadRateLimiterState(this.store.loadState(KEY), this.time.awakeNow(), this.policy).state;
    return this.state;
  }

  private step(input: RateLimiterInput, persist = true): RateLimiterEffect[] {
    const { state, effects } = rateLimiterStep(this.current(), input, this.time.awakeNow(), this.policy);
    const mustPersist = persist && effects.some((e) => e.type === 'persist');
    try {
      this.writeStep(state, effects, mustPersist);
    } catch (err) {
      // Rolled back: what is on disk is no longer known, so the next persist writes.
      this.persisted = undefined;
      throw err;
    }
    return effects;
  }

  private writeStep(state: RateLimiterState, effects: RateLimiterEffect[], mustPersist: boolean): void {
    let lockouts = 0;
    this.store.transaction(() => {
      this.state = state;
      if (mustPersist) this.persist();
      for (const e of effects) {
        if (e.type !== 'locked-out') continue;
        lockouts++;
        this.log.warn({ reason: e.reason, lockoutMs: e.lockoutMs, consecutive: e.consecutive, failuresInWindow: e.failuresInWindow }, 'keypad.lockout');
        this.store.appendAudit('keypad.lockout', 'priority', {
          reason: e.reason,
          lockoutMs: e.lockoutMs,
          consecutive: e.consecutive,
          failuresInWindow: e.failuresInWindow,
          dailyBudget: this.policy.dailyFailureBudget,
        });
      }
    });
    this.begun += lockouts;
  }

  private persist(): void {
    const json = JSON.stringify(this.current());
    if (json === this.persisted) return;
    this.store.saveState(KEY, json);
    // Failures carry awake timestamps: the awake clock must not restart below them.
    this.time.checkpointAwake();
    this.persisted = json;
  }
}
