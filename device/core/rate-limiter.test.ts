import { describe, expect, it } from 'vitest';
import { DAY_MS, dailyBreakProbability, dailyFailureBudgetFor, lockoutPolicyFor, type LockoutPolicy } from './lockout-policy.js';
import {
  initialRateLimiterState,
  loadRateLimiterState,
  lockoutRemainingMs,
  rateLimiterStep,
  type RateLimiterEffect,
  type RateLimiterState,
} from './rate-limiter.js';

const policy: LockoutPolicy = lockoutPolicyFor({
  codeLength: 8,
  maxLiveCodes: 200,
  targetDailyProbability: 1e-4,
  freeAttempts: 3,
  firstLockoutMs: 30_000,
  maxLockoutMs: 15 * 60_000,
  quietResetMs: 60 * 60_000,
  budgetCeiling: 200,
});

function fail(state: RateLimiterState, now: number): { state: RateLimiterState; effects: RateLimiterEffect[] } {
  const a = rateLimiterStep(state, { type: 'attempt' }, now, policy);
  if (!a.effects.some((e) => e.type === 'allowed')) return a;
  const o = rateLimiterStep(a.state, { type: 'outcome', result: 'failure' }, now, policy);
  return { state: o.state, effects: [...a.effects, ...o.effects] };
}

describe('lockout policy math', () => {
  const table = [
    { n: 6, budget: 0 },
    { n: 7, budget: 5 },
    { n: 8, budget: 50 },
    { n: 9, budget: 500 },
    { n: 10, budget: 5000 },
  ];
  for (const { n, budget } of table) {
    it(`allows ${String(budget)} failures a day for ${String(n)}-digit codes with 200 live codes`, () => {
      expect(dailyFailureBudgetFor(n, 200, 1e-4)).toBe(budget);
      expect(dailyBreakProbability(n, 200, budget)).toBeLessThanOrEqual(1e-4);
    });
  }

  it('gives 50 failures a day for the default 8 digits, which is exactly 1e-4', () => {
    expect(policy.dailyFailureBudget).toBe(50);
    expect(dailyBreakProbability(8, 200, 50)).toBeCloseTo(1e-4, 12);
  });
});

describe('rate limiter', () => {
  const escalation: Array<{ failures: number; lockedMs: number }> = [
    { failures: 1, lockedMs: 0 },
    { failures: 3, lockedMs: 0 },
    { failures: 4, lockedMs: 30_000 },
  ];
  for (const { failures, lockedMs } of escalation) {
    it(`locks for ${String(lockedMs)} ms after ${String(failures)} consecutive failures`, () => {
      let state = initialRateLimiterState;
      for (let i = 0; i < failures; i++) state = fail(state, 1000 + i).state;
      expect(lockoutRemainingMs(state, 1000 + failures - 1)).toBe(lockedMs);
    });
  }

  it('doubles the lockout with each further failure up to the maximum', () => {
    let state = initialRateLimiterState;
    let now = 0;
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) {
      const step = fail(state, now);
      state = step.state;
      seen.push(lockoutRemainingMs(state, now));
      now += lockoutRemainingMs(state, now) + 1;
    }
    expect(seen.slice(3, 9)).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 900_000]);
    expect(Math.max(...seen)).toBe(900_000);
  });

  it('refuses an attempt while locked without charging it', () => {
    let state = initialRateLimiterState;
    for (let i = 0; i < 4; i++) state = fail(state, i).state;
    const step = rateLimiterStep(state, { type: 'attempt' }, 10, policy);
    expect(step.state).toBe(state);
    expect(step.effects).toEqual([{ type: 'refused-locked', remainingMs: 30_000 - 7 }]);
  });

  it('reports every new lockout as an effect for the priority audit lane', () => {
    let state = initialRateLimiterState;
    let effects: RateLimiterEffect[] = [];
    for (let i = 0; i < 4; i++) ({ state, effects } = fail(state, i));
    expect(effects).toContainEqual({ type: 'locked-out', reason: 'escalation', lockoutMs: 30_000, consecutive: 4, failuresInWindow: 4 });
  });

  it('reports a whole number of milliseconds when the awake clock is fractional (performance.now)', () => {
    let state = initialRateLimiterState;
    let effects: RateLimiterEffect[] = [];
    for (let i = 0; i < 4; i++) ({ state, effects } = fail(state, 123_456.789));
    const lockout = effects.find((e) => e.type === 'locked-out');
    expect(lockout).toBeDefined();
    expect(Number.isInteger(lockout?.type === 'locked-out' ? lockout.lockoutMs : Number.NaN)).toBe(true);
  });

  it('charges the attempt before the lookup and refunds it on success', () => {
    const charged = rateLimiterStep(initialRateLimiterState, { type: 'attempt' }, 5, policy);
    expect(charged.state.failures).toEqual([5]);
    expect(charged.effects[0]).toEqual({ type: 'persist' });
    const refunded = rateLimiterStep(charged.state, { type: 'outcome', result: 'success' }, 5, policy);
    expect(refunded.state.failures).toEqual([]);
    expect(refunded.state.consecutive).toBe(0);
  });

  it('keeps a charge left pending by a crash as a failure after reload', () => {
    const charged = rateLimiterStep(initialRateLimiterState, { type: 'attempt' }, 5, policy).state;
    const { state } = loadRateLimiterState(JSON.stringify(charged), 6, policy);
    expect(state.failures).toEqual([5]);
    expect(state.pending).toBeUndefined();
    expect(rateLimiterStep(state, { type: 'outcome', result: 'success' }, 7, policy).state).toBe(state);
  });

  it('fails closed on a corrupt persisted state', () => {
    const { state, corrupt } = loadRateLimiterState('{"v":1,"failures":"x"}', 1000, policy);
    expect(corrupt).toBe(true);
    expect(lockoutRemainingMs(state, 1000)).toBe(policy.maxLockoutMs);
  });

  it('forgets consecutive failures after a quiet hour but not the daily window', () => {
    let state = initialRateLimiterState;
    for (let i = 0; i < 3; i++) state = fail(state, i).state;
    state = fail(state, 3 + policy.quietResetMs).state;
    expect(state.consecutive).toBe(1);
    expect(state.failures).toHaveLength(4);
  });

  it('never lets more than the daily budget of failures into any 24 h of awake time', () => {
    // An attacker who tries the moment every lockout ends, for three days.
    let state = initialRateLimiterState;
    let now = 0;
    const failures: number[] = [];
    while (now < 3 * DAY_MS) {
      const attempt = rateLimiterStep(state, { type: 'attempt' }, now, policy);
      if (attempt.effects.some((e) => e.type === 'allowed')) {
        failures.push(now);
        state = rateLimiterStep(attempt.state, { type: 'outcome', result: 'failure' }, now, policy).state;
      }
      now += Math.max(1, lockoutRemainingMs(state, now));
    }
    for (const start of failures) {
      const inWindow = failures.filter((t) => t >= start && t < start + DAY_MS).length;
      expect(inWindow).toBeLessThanOrEqual(policy.dailyFailureBudget);
    }
    expect(failures.length).toBeGreaterThanOrEqual(policy.dailyFailureBudget * 2);
  });

  it('never shortens a lockout when a later failure computes a shorter one', () => {
    let state: RateLimiterState = { ...initialRateLimiterState, lockedUntil: 0, consecutive: 0 };
    state = { ...state, failures: Array.from({ length: 49 }, (_, i) => i), consecutive: 0 };
    state = fail(state, 100).state;
    const until = state.lockedUntil;
    expect(until).toBe(DAY_MS);
    expect(rateLimiterStep(state, { type: 'attempt' }, 200, policy).effects[0]?.type).toBe('refused-locked');
  });

  describe('a neutral outcome (a correct code in a wrong state, a busy door)', () => {
    function settle(state: RateLimiterState, result: 'failure' | 'neutral', now: number): RateLimiterState {
      const a = rateLimiterStep(state, { type: 'attempt' }, now, policy);
      return rateLimiterStep(a.state, { type: 'outcome', result }, now, policy).state;
    }
    const table: Array<{ name: string; sequence: Array<'failure' | 'neutral'>; consecutive: number; failures: number; locked: boolean }> = [
      { name: 'refunds its own charge and nothing else', sequence: ['neutral'], consecutive: 0, failures: 0, locked: false },
      { name: 'does not reset the escalation left by earlier failures', sequence: ['failure', 'failure', 'failure', 'neutral'], consecutive: 3, failures: 3, locked: false },
      { name: 'lets the next failure lock out as if the neutral attempt never happened', sequence: ['failure', 'failure', 'failure', 'neutral', 'failure'], consecutive: 4, failures: 4, locked: true },
      { name: 'keeps the escalation across many interleaved neutral attempts', sequence: ['failure', 'neutral', 'failure', 'neutral', 'failure', 'neutral', 'failure'], consecutive: 4, failures: 4, locked: true },
    ];
    for (const c of table) {
      it(c.name, () => {
        let state = initialRateLimiterState;
        let now = 1000;
        for (const r of c.sequence) {
          state = settle(state, r, now);
          now += 1;
        }
        expect(state.consecutive).toBe(c.consecutive);
        expect(state.failures).toHaveLength(c.failures);
        expect(lockoutRemainingMs(state, now) > 0).toBe(c.locked);
        expect(state.pending).toBeUndefined();
      });
    }

    it('restores the lockout and quiet-reset clock the charge moved', () => {
      let state = initialRateLimiterState;
      for (let i = 0; i < 3; i++) state = settle(state, 'failure', i);
      const before = state;
      state = settle(state, 'neutral', 10);
      expect(state).toEqual(before);
    });

    it('unlike a success, which forgives the typos before it', () => {
      let state = initialRateLimiterState;
      for (let i = 0; i < 3; i++) state = settle(state, 'failure', i);
      const a = rateLimiterStep(state, { type: 'attempt' }, 10, policy);
      expect(rateLimiterStep(a.state, { type: 'outcome', result: 'success' }, 10, policy).state.consecutive).toBe(0);
    });
  });
});
