import type { DoorState } from '@locker/hal/types.js';

// Flap guard for one door sensor, between the debounced sensor and the door supervisor.
// Pure: the runtime feeds settled sensor changes and the quiet-timer expiry, and executes
// the effects.
//
// The HAL debouncer filters contact bounce (changes shorter than its window), but a sensor
// with a loose magnet or a door rattling in the wind changes state a few times a second,
// each change long enough to pass it. Fed straight to the supervisor, every open edge at
// rest is an uncommanded open (a priority audit record and an alarm) and every close a
// normal one: hundreds of records a minute ahead of everything else in the upload.
//
//   steady ──`edges` unexplained changes within `windowMs`──▶ flapping ──no change for `quietMs`──▶ steady
//
// Only unexplained changes count: a door opening after its pulse or a commanded open
// closing is what was asked for, however quickly opens follow each other (a technician or
// a scripted test runs through several in a second). At rest a flapping sensor produces
// nothing else: every open is uncommanded and so is its close.
// Steady: every change passes through at once (real door events are never delayed).
// Entering flapping: the supervisor is told once that the sensor cannot be trusted, with
// the count (one priority record, and an open in progress ends as 'unknown', never as
// 'jammed'). Flapping: changes are only counted. Settling: the last state passes through,
// so a door that really is open now is reported as such. Changes that already passed are
// never taken back.

export interface DoorFlapConfig {
  /** This many changes within `windowMs` make the sensor flapping. */
  edges: number;
  windowMs: number;
  /** A flapping sensor is trusted again after this long without a change. */
  quietMs: number;
}

/** Three uncommanded opens and their closes within 5 s is no person at a door: a fault. */
export const DEFAULT_DOOR_FLAP: DoorFlapConfig = { edges: 6, windowMs: 5_000, quietMs: 10_000 };

export type DoorFlapState =
  | { kind: 'steady'; /** Times of the recent changes, oldest first, within the window. */ recent: readonly number[] }
  | { kind: 'flapping'; since: number; last: DoorState; suppressed: number };

/** `expected`: the change is what the door was commanded to do; it passes without counting. */
export type DoorFlapInput = { type: 'change'; state: DoorState; expected: boolean } | { type: 'quiet' };

export type DoorFlapEffect =
  /** Feed this state to the supervisor. */
  | { type: 'pass'; state: DoorState }
  /** The sensor started flapping: tell the supervisor once (it cannot be trusted). */
  | { type: 'flapping'; edges: number; windowMs: number }
  | { type: 'start-quiet-timer'; ms: number }
  /** The sensor held still for quietMs: how many changes were swallowed, and for how long. */
  | { type: 'settled'; state: DoorState; suppressed: number; flappedMs: number };

export interface DoorFlapStep {
  state: DoorFlapState;
  effects: DoorFlapEffect[];
}

export const doorSteady: DoorFlapState = { kind: 'steady', recent: [] };

export function isFlapping(state: DoorFlapState): boolean {
  return state.kind === 'flapping';
}

export function doorFlapStep(state: DoorFlapState, input: DoorFlapInput, now: number, config: DoorFlapConfig): DoorFlapStep {
  if (input.type === 'quiet') {
    // A stale timer (the sensor already settled) changes nothing.
    if (state.kind !== 'flapping') return { state, effects: [] };
    return {
      state: doorSteady,
      effects: [
        { type: 'settled', state: state.last, suppressed: state.suppressed, flappedMs: now - state.since },
        { type: 'pass', state: state.last },
      ],
    };
  }
  const quiet: DoorFlapEffect = { type: 'start-quiet-timer', ms: config.quietMs };
  if (state.kind === 'flapping') {
    return { state: { ...state, last: input.state, suppressed: state.suppressed + 1 }, effects: [quiet] };
  }
  const inWindow = state.recent.filter((t) => t > now - config.windowMs);
  if (input.expected) return { state: { kind: 'steady', recent: inWindow }, effects: [{ type: 'pass', state: input.state }] };
  const recent = [...inWindow, now];
  if (recent.length >= config.edges) {
    return {
      state: { kind: 'flapping', since: now, last: input.state, suppressed: 0 },
      effects: [{ type: 'flapping', edges: recent.length, windowMs: config.windowMs }, quiet],
    };
  }
  return { state: { kind: 'steady', recent }, effects: [{ type: 'pass', state: input.state }] };
}
