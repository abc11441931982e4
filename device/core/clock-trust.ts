import type { AuditEventData } from '../../sync/contract/audit-events/index.js';
// Clock trust. Trusted time = max(wall clock, floor). The floor is the latest time the
// device can vouch for; it is persisted (store.raiseClockFloor) and never decreases.
//
// The floor advances in two ways only:
//  - by a backend-signed time (observeTrustedTime), to exactly that time;
//  - by local ticks, at most by the monotonic time elapsed since the previous tick, and
//    never past the wall clock. A wall clock set forward (operator, fake NTP) therefore
//    cannot drag the floor into the future, which would expire every token for good; a
//    wall clock set back (dead RTC battery) is caught because the floor kept counting.
// Power-off time is not added at boot (it is unknown), so the floor is never ahead of real
// time; while the wall clock is fine, decisions use it anyway.

export interface ClockTrustConfig {
  /** Wall clock this far behind the floor (or ahead of where it could be) is a jump. */
  toleranceMs: number;
}

export interface ClockTrustState {
  floor: number;
  /** Monotonic time of the last tick, undefined until the first one after boot. */
  lastMono: number | undefined;
  /** A jump has been reported and the wall clock has not come back yet. */
  behind: boolean;
  ahead: boolean;
}

export type ClockTrustInput =
  | { type: 'tick'; wall: number; mono: number }
  | { type: 'signed-time'; epochMs: number; source: string; wall: number; mono: number };

export type ClockTrustEffect =
  | { type: 'raise-floor'; epochMs: number }
  | { type: 'audit'; auditType: 'clock.jump'; lane: 'priority' | 'normal'; data: AuditEventData<'clock.jump'> }
  | { type: 'audit'; auditType: 'clock.signed-time'; lane: 'priority' | 'normal'; data: AuditEventData<'clock.signed-time'> };

export interface ClockTrustStep {
  state: ClockTrustState;
  effects: ClockTrustEffect[];
}

export function initialClockTrust(persistedFloor: number): ClockTrustState {
  return { floor: persistedFloor, lastMono: undefined, behind: false, ahead: false };
}

export function trustedNow(state: ClockTrustState, wall: number): number {
  return Number.isFinite(wall) ? Math.max(wall, state.floor) : state.floor;
}

function jumpChecks(state: ClockTrustState, wall: number, floor: number, config: ClockTrustConfig, firstTick: boolean): { state: ClockTrustState; effects: ClockTrustEffect[] } {
  const effects: ClockTrustEffect[] = [];
  const behind = !(wall >= floor - config.toleranceMs);
  // At the first tick after boot the wall clock is expected ahead by the power-off time.
  const ahead = wall > floor + config.toleranceMs && !firstTick;
  if (behind && !state.behind) {
    effects.push({ type: 'audit', auditType: 'clock.jump', lane: 'priority', data: { direction: 'backward', wallMs: wall, floorMs: floor, byMs: floor - wall } });
  }
  if (ahead && !state.ahead) {
    effects.push({ type: 'audit', auditType: 'clock.jump', lane: 'normal', data: { direction: 'forward', wallMs: wall, floorMs: floor, byMs: wall - floor } });
  }
  return { state: { ...state, behind, ahead }, effects };
}

export function clockTrustStep(state: ClockTrustState, input: ClockTrustInput, config: ClockTrustConfig): ClockTrustStep {
  const elapsed = state.lastMono === undefined ? 0 : Math.max(0, input.mono - state.lastMono);
  // Local ticks: the floor follows the wall clock but never faster than monotonic time.
  const counted = state.floor + elapsed;
  const wall = Number.isFinite(input.wall) ? input.wall : -Infinity;
  let floor = wall >= state.floor ? Math.min(wall, counted) : counted;
  // A factory-fresh device has no floor yet: the wall clock is the only time there is.
  if (state.floor === 0 && state.lastMono === undefined && Number.isFinite(input.wall) && input.wall > 0) floor = input.wall;
  const extra: ClockTrustEffect[] = [];
  if (input.type === 'signed-time' && Number.isSafeInteger(input.epochMs) && input.epochMs > floor) {
    floor = input.epochMs;
    extra.push({ type: 'audit', auditType: 'clock.signed-time', lane: 'normal', data: { source: input.source, epochMs: input.epochMs } });
  }
  floor = Math.floor(floor);
  const checked = jumpChecks({ ...state, floor, lastMono: input.mono }, wall, floor, config, state.lastMono === undefined);
  const effects: ClockTrustEffect[] = [];
  if (floor > state.floor) effects.push({ type: 'raise-floor', epochMs: floor });
  return { state: checked.state, effects: [...effects, ...extra, ...checked.effects] };
}
