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
//   steady ──`edges` unexplained changes within `windowMs`──────────┐
//          ──`slowEdges` unexplained changes within `slowWindowMs`──┴─▶ flapping ──no change for `quietMs`──▶ steady
//
// Two windows because one cannot catch both: a short window with a high count catches a
// sensor rattling several times a second within seconds, but a sensor toggling every 2–3 s
// never has 6 changes in 5 s and would otherwise write an uncommanded open every few
// seconds for as long as it lasts. A minute-long window with a count no person opening a
// door by force reaches catches that one, a little later.
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
  /** This many changes within `windowMs` make the sensor flapping (fast flapping). */
  edges: number;
  windowMs: number;
  /** A flapping sensor is trusted again after this long without a change. */
  quietMs: number;
  /** This many changes within `slowWindowMs` make it flapping too (slow flapping). */
  slowEdges: number;
  slowWindowMs: number;
}

/**
 * Three uncommanded opens and their closes within 5 s is no person at a door: a fault.
 * Four within a minute is no person either (each is an alarm at an empty locker); a sensor
 * toggling every 2–3 s reaches that after 4 opens, where it used to report one every 5 s.
 */
export const DEFAULT_DOOR_FLAP: DoorFlapConfig = { edges: 6, windowMs: 5_000, quietMs: 10_000, slowEdges: 8, slowWindowMs: 60_000 };

/**
 * What makes a config nonsense, as messages an operator can act on (empty: fine). Checked
 * here, next to the logic they protect, and reported by the config schema (device/config.ts).
 */
export function doorFlapConfigProblems(c: DoorFlapConfig): Array<{ key: keyof DoorFlapConfig; message: string }> {
  const problems: Array<{ key: keyof DoorFlapConfig; message: string }> = [];
  if (c.edges < 2) problems.push({ key: 'edges', message: 'must be at least 2 (an open and its close): 1 would call every uncommanded open flapping' });
  if (c.slowEdges < 2) problems.push({ key: 'slowEdges', message: 'must be at least 2 (an open and its close): 1 would call every uncommanded open flapping' });
  if (c.quietMs < c.windowMs) {
    problems.push({ key: 'quietMs', message: `must be at least windowMs (${String(c.windowMs)}): a sensor still flapping would be trusted again between two of its changes` });
  }
  if (c.slowWindowMs < c.windowMs) problems.push({ key: 'slowWindowMs', message: `must be at least windowMs (${String(c.windowMs)}): it is the longer of the two windows` });
  // A sensor caught by the slow window changes about every slowWindowMs / (slowEdges - 1);
  // a shorter quiet period would let it settle between its changes and start over: the
  // stream of uncommanded opens the slow window is there to stop.
  if (c.slowEdges >= 2 && c.quietMs * (c.slowEdges - 1) < c.slowWindowMs) {
    problems.push({
      key: 'quietMs',
      message: `must be at least slowWindowMs / (slowEdges - 1) (${String(Math.ceil(c.slowWindowMs / (c.slowEdges - 1)))}): a sensor caught by the slow window would settle between its changes`,
    });
  }
  return problems;
}

export type DoorFlapState =
  | { kind: 'steady'; /** Times of the recent unexplained changes, oldest first, within the longer window. */ recent: readonly number[] }
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
  // Keep what either window still needs: the longer one holds the shorter one's changes.
  const horizon = Math.max(config.windowMs, config.slowWindowMs);
  const kept = state.recent.filter((t) => t > now - horizon);
  if (input.expected) return { state: { kind: 'steady', recent: kept }, effects: [{ type: 'pass', state: input.state }] };
  const recent = [...kept, now];
  const tripped = trippedWindow(recent, now, config);
  if (tripped !== undefined) {
    return {
      state: { kind: 'flapping', since: now, last: input.state, suppressed: 0 },
      effects: [{ type: 'flapping', ...tripped }, quiet],
    };
  }
  return { state: { kind: 'steady', recent }, effects: [{ type: 'pass', state: input.state }] };
}

/** The window whose count `recent` reached (the short one first: it names the faster fault), with that count. */
function trippedWindow(recent: readonly number[], now: number, config: DoorFlapConfig): { edges: number; windowMs: number } | undefined {
  const windows = [
    { edges: config.edges, windowMs: config.windowMs },
    { edges: config.slowEdges, windowMs: config.slowWindowMs },
  ];
  for (const w of windows) {
    const count = recent.filter((t) => t > now - w.windowMs).length;
    if (count >= w.edges) return { edges: count, windowMs: w.windowMs };
  }
  return undefined;
}
