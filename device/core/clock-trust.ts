import type { AuditEventData } from '@locker/contract/audit-events/index.js';
// Clock trust. Trusted time = max(wall clock, floor). The floor is the latest time the
// device can vouch for; it is persisted (store.raiseClockFloor) and never decreases.
//
//   device time = anchor + monotonic (awake) time elapsed since the anchor.
//
// The anchor is a backend-signed time (confirmed) or, on a factory-fresh device that has
// never seen one, its first wall-clock reading (provisional). Device time is checkpointed
// to the store (the "floor") and resumes from the checkpoint after a restart: power-off
// time is not credited, because nothing the device can trust measured it. Device time
// therefore never runs ahead of real time once confirmed; it lags by the power-off time
// until the next signed time catches it up.
//
// Consequences the decisions rely on:
//  - a wall clock set forward or back moves nothing: token windows (nbf and exp), the
//    expiry sweep and courier sessions all read device time;
//  - device time never decreases once confirmed, so no backward jump revives an expired
//    token (a spent token is in the replay set, which time does not touch);
//  - a provisional anchor (e.g. a new board whose RTC reads 2038) is replaced by the first
//    signed time, up or down; a confirmed one only moves up. Nothing is expired for return
//    on provisional time.
// The wall clock is only compared with device time to report jumps (`clock.jump`).

export interface ClockTrustConfig {
  /** A wall clock moving this far against device time between two ticks is a jump; a signed time this far ahead is a correction. */
  toleranceMs: number;
}

/** What the store keeps (meta row). */
export interface PersistedClockTrust {
  /** Device time at the last checkpoint, epoch ms (0 = factory-fresh). */
  floorMs: number;
  /** The floor descends from a backend-signed time (once true, never false again). */
  confirmed: boolean;
  /** Highest backend-signed time ever seen, epoch ms (0 = none). */
  signedMaxMs: number;
}

export interface ClockTrustState {
  /** Device time at `monoAt`. */
  baseMs: number;
  /** Monotonic reading of the anchor; undefined until the boot input. */
  monoAt: number | undefined;
  confirmed: boolean;
  signedMaxMs: number;
  /** wall - device time at the last observation (jump detection); undefined before boot. */
  offsetMs: number | undefined;
  /** What the store holds, so only real changes are written. */
  persisted: PersistedClockTrust;
}

export type ClockTrustInput =
  | { type: 'boot'; wall: number; mono: number }
  | { type: 'tick'; wall: number; mono: number }
  | { type: 'signed-time'; epochMs: number; source: string; wall: number; mono: number };

export type ClockAuditType = 'clock.jump' | 'clock.signed-time';

export type ClockTrustEffect =
  | { type: 'persist'; value: PersistedClockTrust }
  | { type: 'audit'; auditType: 'clock.jump'; lane: 'priority' | 'normal'; data: AuditEventData<'clock.jump'> }
  | { type: 'audit'; auditType: 'clock.signed-time'; lane: 'priority' | 'normal'; data: AuditEventData<'clock.signed-time'> }
  | { type: 'ignored-signed-time'; epochMs: number; source: string };

export interface ClockTrustStep {
  state: ClockTrustState;
  effects: ClockTrustEffect[];
}

export function initialClockTrust(persisted: PersistedClockTrust): ClockTrustState {
  const floorMs = Number.isSafeInteger(persisted.floorMs) && persisted.floorMs > 0 ? persisted.floorMs : 0;
  const signedMaxMs = Number.isSafeInteger(persisted.signedMaxMs) && persisted.signedMaxMs > 0 ? persisted.signedMaxMs : 0;
  const confirmed = persisted.confirmed && signedMaxMs > 0;
  // A confirmed floor is never below the highest signed time (a torn write cannot do it either).
  const baseMs = confirmed ? Math.max(floorMs, signedMaxMs) : floorMs;
  return { baseMs, monoAt: undefined, confirmed, signedMaxMs, offsetMs: undefined, persisted: { floorMs, confirmed, signedMaxMs } };
}

/** Device time at monotonic reading `mono`: the only time decisions use. */
export function deviceNow(state: ClockTrustState, mono: number): number {
  if (state.monoAt === undefined || !Number.isFinite(mono)) return state.baseMs;
  // A monotonic reading never goes back within a boot; if one did, do not count backwards.
  return Math.floor(state.baseMs + Math.max(0, mono - state.monoAt));
}

/** Device time if it descends from a signed time; undefined while provisional. */
export function confirmedNow(state: ClockTrustState, mono: number): number | undefined {
  return state.confirmed ? deviceNow(state, mono) : undefined;
}

function isEpoch(ms: number): boolean {
  return Number.isSafeInteger(ms) && ms > 0;
}

function rebase(state: ClockTrustState, mono: number, baseMs: number, wall: number): ClockTrustState {
  const offsetMs = Number.isFinite(wall) ? wall - baseMs : state.offsetMs;
  return { ...state, baseMs, monoAt: mono, offsetMs };
}

function persistIfChanged(state: ClockTrustState): ClockTrustStep {
  const value: PersistedClockTrust = { floorMs: state.baseMs, confirmed: state.confirmed, signedMaxMs: state.signedMaxMs };
  const p = state.persisted;
  if (value.floorMs === p.floorMs && value.confirmed === p.confirmed && value.signedMaxMs === p.signedMaxMs) return { state, effects: [] };
  return { state: { ...state, persisted: value }, effects: [{ type: 'persist', value }] };
}

function jumpAudit(direction: 'forward' | 'backward', wall: number, device: number, byMs: number, confirmed: boolean): ClockTrustEffect {
  // Backward in the priority lane: someone may be trying to revive tokens. Forward is harmless now.
  return {
    type: 'audit',
    auditType: 'clock.jump',
    lane: direction === 'backward' ? 'priority' : 'normal',
    data: { direction, wallMs: wall, floorMs: device, byMs, confirmed },
  };
}

function boot(state: ClockTrustState, wall: number, mono: number, config: ClockTrustConfig): ClockTrustStep {
  // A factory-fresh device has no time but its wall clock: take it, provisionally.
  const fresh = state.baseMs === 0 && !state.confirmed && isEpoch(Math.floor(wall));
  const baseMs = fresh ? Math.floor(wall) : state.baseMs;
  const next = rebase(state, mono, baseMs, wall);
  const step = persistIfChanged(next);
  // The wall clock ahead at boot is expected (power-off time); behind is a dead RTC or a
  // clock set back while the device was off.
  if (Number.isFinite(wall) && wall < baseMs - config.toleranceMs) {
    step.effects.push(jumpAudit('backward', wall, baseMs, baseMs - wall, next.confirmed));
  }
  return step;
}

function tick(state: ClockTrustState, wall: number, mono: number, config: ClockTrustConfig): ClockTrustStep {
  const now = deviceNow(state, mono);
  const before = state.offsetMs;
  const next = rebase(state, mono, now, wall);
  const step = persistIfChanged(next);
  if (before !== undefined && next.offsetMs !== undefined && Number.isFinite(wall)) {
    // Only a change of the offset is a jump: a wall clock ahead by the power-off time stays ahead.
    const moved = next.offsetMs - before;
    if (moved > config.toleranceMs) step.effects.push(jumpAudit('forward', wall, now, moved, next.confirmed));
    if (moved < -config.toleranceMs) step.effects.push(jumpAudit('backward', wall, now, -moved, next.confirmed));
  }
  return step;
}

function signedTime(state: ClockTrustState, input: Extract<ClockTrustInput, { type: 'signed-time' }>, config: ClockTrustConfig): ClockTrustStep {
  const { epochMs, source, wall, mono } = input;
  if (!isEpoch(epochMs)) return { state, effects: [{ type: 'ignored-signed-time', epochMs, source }] };
  const now = deviceNow(state, mono);
  const signedMaxMs = Math.max(state.signedMaxMs, epochMs);
  // Provisional: the signed time replaces it, down as well as up. Confirmed: only up (a
  // stale signed time, e.g. a delayed ack, says nothing new about now).
  const baseMs = state.confirmed ? Math.max(now, epochMs) : Math.max(epochMs, state.signedMaxMs);
  const next = rebase({ ...state, confirmed: true, signedMaxMs }, mono, baseMs, wall);
  const step = persistIfChanged(next);
  // Audited only when trust changes materially: confirmed for the first time, or caught
  // up by more than the tolerance (after a power-off). Every ack carries a signed time;
  // auditing each would feed the audit upload its own acks forever.
  const correctionMs = baseMs - now;
  if (!state.confirmed || correctionMs > config.toleranceMs) {
    step.effects.push({
      type: 'audit',
      auditType: 'clock.signed-time',
      lane: 'normal',
      data: { source, epochMs, floorMs: now, correctionMs, trust: state.confirmed ? 'corrected' : 'confirmed' },
    });
  }
  return step;
}

export function clockTrustStep(state: ClockTrustState, input: ClockTrustInput, config: ClockTrustConfig): ClockTrustStep {
  switch (input.type) {
    case 'boot':
      return boot(state, input.wall, input.mono, config);
    case 'tick':
      return tick(state, input.wall, input.mono, config);
    case 'signed-time':
      return signedTime(state, input, config);
  }
}
