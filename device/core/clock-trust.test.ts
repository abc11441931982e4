import { describe, expect, it } from 'vitest';
import { clockTrustStep, confirmedNow, deviceNow, initialClockTrust, type ClockTrustEffect, type ClockTrustInput, type ClockTrustState } from './clock-trust.js';

const config = { toleranceMs: 120_000 };
const T = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const Y2038 = Date.UTC(2038, 0, 19, 3, 14, 8);

const fresh = initialClockTrust({ floorMs: 0, confirmed: false, signedMaxMs: 0 });
const confirmedAt = (ms: number): ClockTrustState => initialClockTrust({ floorMs: ms, confirmed: true, signedMaxMs: ms });

function run(state: ClockTrustState, ...inputs: ClockTrustInput[]): { state: ClockTrustState; effects: ClockTrustEffect[] } {
  const effects: ClockTrustEffect[] = [];
  for (const input of inputs) {
    const step = clockTrustStep(state, input, config);
    state = step.state;
    effects.push(...step.effects);
  }
  return { state, effects };
}
const boot = (wall: number, mono = 0): ClockTrustInput => ({ type: 'boot', wall, mono });
const tick = (wall: number, mono: number): ClockTrustInput => ({ type: 'tick', wall, mono });
const signed = (epochMs: number, wall: number, mono: number, source = 'audit-ack'): ClockTrustInput => ({ type: 'signed-time', epochMs, source, wall, mono });
const audits = (effects: ClockTrustEffect[]): ClockTrustEffect[] => effects.filter((e) => e.type === 'audit');
/** "type/lane/direction-or-trust" of each audit effect. */
const auditSummary = (effects: ClockTrustEffect[]): string[] =>
  effects.flatMap((e) => (e.type === 'audit' ? [`${e.auditType}/${e.lane}/${e.auditType === 'clock.jump' ? e.data.direction : e.data.trust}`] : []));
const auditData = (effects: ClockTrustEffect[]): Array<Record<string, unknown>> => effects.flatMap((e) => (e.type === 'audit' ? [e.data] : []));

describe('clock trust', () => {
  it('takes the first wall reading of a factory-fresh device as provisional device time', () => {
    const { state, effects } = run(fresh, boot(T));
    expect(deviceNow(state, 0)).toBe(T);
    expect(confirmedNow(state, 0)).toBeUndefined();
    expect(effects).toEqual([{ type: 'persist', value: { floorMs: T, confirmed: false, signedMaxMs: 0 } }]);
  });

  it('counts device time with the monotonic clock, not the wall clock', () => {
    const { state } = run(confirmedAt(T), boot(T, 500), tick(T + 10_000, 10_500));
    expect(deviceNow(state, 10_500)).toBe(T + 10_000);
    expect(deviceNow(state, 20_500)).toBe(T + 20_000);
  });

  it('does not move device time when the wall clock jumps forward, and reports the jump once', () => {
    const { state, effects } = run(confirmedAt(T), boot(T), tick(T + 30 * DAY + 10_000, 10_000), tick(T + 30 * DAY + 20_000, 20_000));
    expect(confirmedNow(state, 20_000)).toBe(T + 20_000);
    expect(auditSummary(effects)).toEqual(['clock.jump/normal/forward']);
  });

  it('does not move device time back when the wall clock jumps back, and reports it once in the priority lane', () => {
    const { state, effects } = run(confirmedAt(T), boot(T), tick(T - DAY + 1000, 1000), tick(T - DAY + 2000, 2000));
    expect(deviceNow(state, 2000)).toBe(T + 2000);
    expect(auditSummary(effects)).toEqual(['clock.jump/priority/backward']);
  });

  it('tolerates a small correction of the wall clock without an audit', () => {
    expect(audits(run(confirmedAt(T), boot(T), tick(T - 60_000, 10)).effects)).toEqual([]);
  });

  it('does not credit power-off time at boot and does not report the wall clock ahead by it', () => {
    const { state, effects } = run(confirmedAt(T), boot(T + 3_600_000, 0), tick(T + 3_610_000, 10_000));
    expect(deviceNow(state, 10_000)).toBe(T + 10_000);
    expect(audits(effects)).toEqual([]);
  });

  it('reports a wall clock behind device time at boot (dead RTC) in the priority lane', () => {
    const { effects } = run(confirmedAt(T), boot(T - DAY));
    expect(auditSummary(effects)).toEqual(['clock.jump/priority/backward']);
    expect(auditData(effects)[0]?.['byMs']).toBe(DAY);
  });

  it('confirms provisional device time with the first signed time, even when that lowers it (board booted in 2038)', () => {
    const { state, effects } = run(fresh, boot(Y2038), signed(T, T, 5000));
    expect(confirmedNow(state, 5000)).toBe(T);
    expect(confirmedNow(state, 6000)).toBe(T + 1000);
    expect(effects).toContainEqual({ type: 'persist', value: { floorMs: T, confirmed: true, signedMaxMs: T } });
    expect(auditSummary(effects)).toEqual(['clock.signed-time/normal/confirmed']);
    expect(auditData(effects)[0]).toEqual({ source: 'audit-ack', epochMs: T, floorMs: Y2038 + 5000, correctionMs: T - Y2038 - 5000, trust: 'confirmed' });
  });

  it('never lowers confirmed device time for an older signed time', () => {
    const { state, effects } = run(confirmedAt(T), boot(T), signed(T - 1000, T, 0));
    expect(confirmedNow(state, 0)).toBe(T);
    expect(audits(effects)).toEqual([]);
  });

  it('catches confirmed device time up to a signed time after a power-off, with one audit', () => {
    const { state, effects } = run(confirmedAt(T), boot(T + DAY), signed(T + DAY, T + DAY, 100));
    expect(confirmedNow(state, 100)).toBe(T + DAY);
    expect(auditSummary(effects)).toEqual(['clock.signed-time/normal/corrected']);
    expect(auditData(effects)[0]?.['correctionMs']).toBe(DAY - 100);
  });

  it('writes no audit record for the signed time of each routine ack', () => {
    let { state } = run(confirmedAt(T), boot(T));
    let records = 0;
    for (let i = 1; i <= 1000; i++) {
      const step = clockTrustStep(state, signed(T + i * 5000 - 40, T + i * 5000, i * 5000), config);
      state = step.state;
      records += audits(step.effects).length;
    }
    expect(records).toBe(0);
    expect(state.signedMaxMs).toBe(T + 1000 * 5000 - 40);
  });

  it('ignores a signed time that is not an epoch time', () => {
    for (const bad of [Number.NaN, -1, 0, 1.5, Number.POSITIVE_INFINITY]) {
      const { state, effects } = run(confirmedAt(T), boot(T), signed(bad, T, 0));
      expect(deviceNow(state, 0)).toBe(T);
      expect(effects).toEqual([{ type: 'ignored-signed-time', epochMs: bad, source: 'audit-ack' }]);
    }
  });

  it('keeps a confirmed floor at or above the highest signed time even if the store says otherwise', () => {
    expect(deviceNow(initialClockTrust({ floorMs: T - 5000, confirmed: true, signedMaxMs: T }), 0)).toBe(T);
  });

  it('treats a floor without a signed time as provisional (a floor written by older firmware)', () => {
    const state = initialClockTrust({ floorMs: Y2038, confirmed: true, signedMaxMs: 0 });
    expect(state.confirmed).toBe(false);
  });

  it('never reads a wall clock that is not a number', () => {
    const { state, effects } = run(confirmedAt(T), boot(Number.NaN), tick(Number.NaN, 1000));
    expect(deviceNow(state, 1000)).toBe(T + 1000);
    expect(audits(effects)).toEqual([]);
  });
});
