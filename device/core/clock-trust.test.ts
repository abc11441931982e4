import { describe, expect, it } from 'vitest';
import { clockTrustStep, initialClockTrust, trustedNow, type ClockTrustState } from './clock-trust.js';

const config = { toleranceMs: 120_000 };
const T = Date.UTC(2026, 0, 1);

function tick(state: ClockTrustState, wall: number, mono: number) {
  return clockTrustStep(state, { type: 'tick', wall, mono }, config);
}

describe('clock trust', () => {
  it('uses the wall clock when it is ahead of the floor', () => {
    expect(trustedNow(initialClockTrust(T), T + 5000)).toBe(T + 5000);
  });

  it('uses the floor when the wall clock is behind it', () => {
    expect(trustedNow(initialClockTrust(T), T - 5000)).toBe(T);
  });

  it('uses the floor when the wall clock is not a number', () => {
    expect(trustedNow(initialClockTrust(T), Number.NaN)).toBe(T);
  });

  const table: Array<{ name: string; wall: number; mono: number; floor: number; audits: string[] }> = [
    { name: 'does not raise the floor on the first tick after boot', wall: T + 3_600_000, mono: 0, floor: T, audits: [] },
    { name: 'reports a wall clock behind the floor at boot', wall: T - 86_400_000, mono: 0, floor: T, audits: ['backward'] },
  ];
  for (const c of table) {
    it(c.name, () => {
      const step = tick(initialClockTrust(T), c.wall, c.mono);
      expect(step.state.floor).toBe(c.floor);
      expect(step.effects.flatMap((e) => (e.type === 'audit' ? [e.auditType === 'clock.jump' ? e.data.direction : e.auditType] : []))).toEqual(c.audits);
    });
  }

  it('raises the floor with elapsed monotonic time while the wall clock agrees', () => {
    let s = tick(initialClockTrust(T), T, 0).state;
    const step = tick(s, T + 10_000, 10_000);
    s = step.state;
    expect(s.floor).toBe(T + 10_000);
    expect(step.effects).toEqual([{ type: 'raise-floor', epochMs: T + 10_000 }]);
  });

  it('does not follow a forward jump faster than monotonic time', () => {
    let s = tick(initialClockTrust(T), T, 0).state;
    const step = tick(s, T + 10 * 86_400_000, 10_000);
    s = step.state;
    expect(s.floor).toBe(T + 10_000);
    expect(step.effects.some((e) => e.type === 'audit' && e.auditType === 'clock.jump' && e.data.direction === 'forward')).toBe(true);
  });

  it('reports a backward jump once in the priority lane and keeps counting on the floor', () => {
    let s = tick(initialClockTrust(T), T, 0).state;
    const jump = tick(s, T - 86_400_000, 1000);
    expect(jump.effects).toContainEqual(expect.objectContaining({ type: 'audit', auditType: 'clock.jump', lane: 'priority' }));
    s = jump.state;
    expect(s.floor).toBe(T + 1000);
    const again = tick(s, T - 86_400_000 + 1000, 2000);
    expect(again.effects.filter((e) => e.type === 'audit')).toEqual([]);
    expect(again.state.floor).toBe(T + 2000);
    expect(trustedNow(again.state, T - 86_400_000 + 1000)).toBe(T + 2000);
  });

  it('tolerates a small backward correction without an audit', () => {
    const s = tick(initialClockTrust(T), T, 0).state;
    expect(tick(s, T - 60_000, 10).effects.filter((e) => e.type === 'audit')).toEqual([]);
  });

  it('takes the wall clock as the first floor of a factory-fresh device', () => {
    const step = tick(initialClockTrust(0), T, 0);
    expect(step.state.floor).toBe(T);
    expect(step.effects).toEqual([{ type: 'raise-floor', epochMs: T }]);
  });

  it('raises the floor to a backend-signed time', () => {
    const step = clockTrustStep(initialClockTrust(T), { type: 'signed-time', epochMs: T + 86_400_000, source: 'batch', wall: T, mono: 0 }, config);
    expect(step.state.floor).toBe(T + 86_400_000);
    expect(step.effects[0]).toEqual({ type: 'raise-floor', epochMs: T + 86_400_000 });
    expect(step.effects).toContainEqual(expect.objectContaining({ auditType: 'clock.jump', lane: 'priority' }));
  });

  it('never lowers the floor for an older signed time', () => {
    const step = clockTrustStep(initialClockTrust(T), { type: 'signed-time', epochMs: T - 1, source: 'batch', wall: T, mono: 0 }, config);
    expect(step.state.floor).toBe(T);
    expect(step.effects).toEqual([]);
  });
});
