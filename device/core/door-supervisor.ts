import type { AuditEventData } from '@locker/contract/audit-events/index.js';
import type { DoorState } from '@locker/hal/types.js';
import type { OpenOutcome } from '../store/runtime-store.js';

// Supervision of one compartment door (Open-Locker's relay/door semantics). Pure: the
// runtime feeds commands, debounced sensor changes, pulse failures and timer expiries, and
// executes the effects (pulse through the open journal, finishOpen, timers, audit).
//
//   rest ──command──▶ unlocking ──door open──▶ open ──door closed──▶ rest
//                        │ timeout → jammed        │ timeout → left-open alarm (repeats)
//   rest ──door open (no command)──▶ open (uncommanded: priority audit + alarm)
//
// A door already open, or a sensor that cannot be trusted, still gets its pulse: a broken
// sensor must never trap a parcel. The outcome says what the sensor could tell. A pulse
// that failed after the relay was energised may have unlocked the door: the sensor still
// decides (opened / jammed), and a sensor lost while waiting makes the outcome 'unknown'
// ('unverified' for the flow, which spends a single-use token), never 'jammed'.
//
// `now` is MONOTONIC time (the runtime passes clock.monotonicMs()): it only ever measures
// how long (`since` to now: openMs, waitedMs). Device time would not do: a signed time
// catching it up after a power cut moves it by days in one step, and a door open across
// that step would be reported open for days (decision 0019).

export interface DoorSupervisorConfig {
  /** How long the door may take to open after the pulse before it counts as jammed. */
  openWaitMs: number;
  /** First left-open alarm after this long open. */
  leftOpenMs: number;
  /** Then the alarm repeats this often until the door closes. */
  leftOpenRepeatMs: number;
}

export type DoorSupervisorState =
  | { kind: 'rest' }
  | {
      kind: 'unlocking';
      opId: string;
      since: number;
      /** The sensor read 'unknown' since the pulse and has not read 'closed' again. */
      sensorLost?: boolean;
      /** The pulse failed after energising the relay (counted already; no good cycle). */
      relayFailed?: boolean;
    }
  | { kind: 'open'; opId: string | undefined; since: number; commanded: boolean; alarms: number };

export type DoorTimer = 'open-wait' | 'left-open';

/** What the flow that asked for the open hears about it. */
export type DoorEvent = 'opened' | 'already-open' | 'unverified' | 'jammed' | 'relay-fault' | 'closed';

export type DoorFailure = 'jammed' | 'relay-fault' | 'sensor-unknown';

export type DoorSupervisorInput =
  | { type: 'command-open'; opId: string; door: DoorState }
  /** `energised`: the relay was energised before the failure, so the door may have unlocked. */
  | { type: 'pulse-failed'; opId: string; energised: boolean }
  | { type: 'door'; state: DoorState }
  /** The sensor changes too often to be believed (door-flap-guard.ts): like 'unknown', reported with the count. */
  | { type: 'sensor-flapping'; edges: number; windowMs: number }
  | { type: 'timeout'; timer: DoorTimer };

type DoorAuditType = 'door.already-open' | 'door.sensor-unknown' | 'door.uncommanded-open' | 'door.closed' | 'door.relay-fault' | 'door.jammed' | 'door.left-open';
/** An audit record of the door contract; the shell adds the compartmentId. */
export type DoorAuditEffect = {
  [T in DoorAuditType]: { type: 'audit'; auditType: T; lane: 'priority' | 'normal'; data: Omit<AuditEventData<T>, 'compartmentId'> };
}[DoorAuditType];

export type DoorSupervisorEffect =
  | { type: 'pulse'; opId: string }
  | { type: 'finish-open'; opId: string; outcome: OpenOutcome }
  | { type: 'start-timer'; timer: DoorTimer; ms: number }
  | { type: 'cancel-timer'; timer: DoorTimer }
  | DoorAuditEffect
  | { type: 'failure'; reason: DoorFailure }
  | { type: 'good-cycle' }
  | { type: 'alarm'; reason: 'left-open' | 'uncommanded-open'; active: boolean }
  | { type: 'door-event'; opId: string | undefined; event: DoorEvent };

export interface DoorSupervisorStep {
  state: DoorSupervisorState;
  effects: DoorSupervisorEffect[];
}

export const doorAtRest: DoorSupervisorState = { kind: 'rest' };

/**
 * One operation per compartment: a second command waits until this says true. An open door
 * still belongs to the operation that opened it until it reports 'closed' (the courier
 * confirms a deposit by that close); a second open would take the door over and that close
 * would go to the newcomer. A door open with no operation (found open at boot, forced) may
 * be commanded: a broken sensor must never trap a parcel.
 */
export function canCommandOpen(state: DoorSupervisorState): boolean {
  if (state.kind === 'unlocking') return false;
  return state.kind === 'rest' || state.opId === undefined;
}

/**
 * A change now is what the door was commanded to do: opening after a pulse, or a commanded
 * (or found-open) door closing. Anything else (an open at rest, the close of an uncommanded
 * open) is unexplained, and a sensor producing many of those is flapping (door-flap-guard.ts).
 */
export function expectsDoorChange(state: DoorSupervisorState): boolean {
  return state.kind === 'unlocking' || (state.kind === 'open' && state.commanded);
}

/** Boot: a door found open is supervised (left-open alarm) but is not an intrusion. */
export function doorAtBoot(door: DoorState, now: number): DoorSupervisorState {
  return door === 'open' ? { kind: 'open', opId: undefined, since: now, commanded: true, alarms: 0 } : doorAtRest;
}

function command(state: DoorSupervisorState, opId: string, door: DoorState, now: number, config: DoorSupervisorConfig): DoorSupervisorStep {
  if (!canCommandOpen(state)) return { state, effects: [] };
  const pulse: DoorSupervisorEffect = { type: 'pulse', opId };
  if (door === 'open') {
    const keepTimer = state.kind === 'open';
    return {
      state: { kind: 'open', opId, since: state.kind === 'open' ? state.since : now, commanded: true, alarms: state.kind === 'open' ? state.alarms : 0 },
      effects: [
        pulse,
        { type: 'finish-open', opId, outcome: 'already-open' },
        { type: 'audit', auditType: 'door.already-open', lane: 'normal', data: { opId } },
        ...(keepTimer ? [] : [{ type: 'start-timer', timer: 'left-open', ms: config.leftOpenMs } as const]),
        { type: 'door-event', opId, event: 'already-open' },
      ],
    };
  }
  if (door === 'unknown') {
    return {
      state: doorAtRest,
      effects: [
        pulse,
        { type: 'finish-open', opId, outcome: 'unknown' },
        { type: 'audit', auditType: 'door.sensor-unknown', lane: 'priority', data: { opId, pulsed: true } },
        { type: 'failure', reason: 'sensor-unknown' },
        { type: 'door-event', opId, event: 'unverified' },
      ],
    };
  }
  return {
    state: { kind: 'unlocking', opId, since: now },
    effects: [pulse, { type: 'start-timer', timer: 'open-wait', ms: config.openWaitMs }],
  };
}

function doorChange(state: DoorSupervisorState, door: DoorState, now: number, config: DoorSupervisorConfig): DoorSupervisorStep {
  if (door === 'unknown') {
    // Keep waiting in 'unlocking': the open-wait timeout decides, as 'unknown' unless the
    // sensor reads 'closed' again by then. Otherwise report it.
    if (state.kind === 'unlocking') return { state: { ...state, sensorLost: true }, effects: [] };
    return { state, effects: [{ type: 'audit', auditType: 'door.sensor-unknown', lane: 'priority', data: { pulsed: false } }] };
  }
  if (door === 'open') {
    if (state.kind === 'open') return { state, effects: [] };
    if (state.kind === 'unlocking') {
      return {
        state: { kind: 'open', opId: state.opId, since: now, commanded: true, alarms: 0 },
        effects: [
          { type: 'cancel-timer', timer: 'open-wait' },
          { type: 'finish-open', opId: state.opId, outcome: 'opened' },
          ...(state.relayFailed === true ? [] : [{ type: 'good-cycle' } as const]),
          { type: 'start-timer', timer: 'left-open', ms: config.leftOpenMs },
          { type: 'door-event', opId: state.opId, event: 'opened' },
        ],
      };
    }
    return {
      state: { kind: 'open', opId: undefined, since: now, commanded: false, alarms: 0 },
      effects: [
        { type: 'audit', auditType: 'door.uncommanded-open', lane: 'priority', data: {} },
        { type: 'alarm', reason: 'uncommanded-open', active: true },
        { type: 'start-timer', timer: 'left-open', ms: config.leftOpenMs },
      ],
    };
  }
  // closed
  if (state.kind === 'unlocking' && state.sensorLost === true) return { state: { ...state, sensorLost: false }, effects: [] };
  if (state.kind !== 'open') return { state, effects: [] };
  const effects: DoorSupervisorEffect[] = [
    { type: 'cancel-timer', timer: 'left-open' },
    { type: 'audit', auditType: 'door.closed', lane: 'normal', data: { openMs: now - state.since, commanded: state.commanded, ...(state.opId === undefined ? {} : { opId: state.opId }) } },
  ];
  if (state.alarms > 0) effects.push({ type: 'alarm', reason: 'left-open', active: false });
  if (!state.commanded) effects.push({ type: 'alarm', reason: 'uncommanded-open', active: false });
  effects.push({ type: 'door-event', opId: state.opId, event: 'closed' });
  return { state: doorAtRest, effects };
}

function sensorFlapping(state: DoorSupervisorState, edges: number, windowMs: number): DoorSupervisorStep {
  // Reported in every state, once per flapping spell (the guard says it once): an open in
  // progress still waits, and its open-wait timeout decides as for a lost sensor.
  const flap = { flapEdges: edges, flapWindowMs: windowMs };
  if (state.kind === 'unlocking') {
    return {
      state: { ...state, sensorLost: true },
      effects: [{ type: 'audit', auditType: 'door.sensor-unknown', lane: 'priority', data: { opId: state.opId, pulsed: true, ...flap } }],
    };
  }
  return { state, effects: [{ type: 'audit', auditType: 'door.sensor-unknown', lane: 'priority', data: { pulsed: false, ...flap } }] };
}

export function doorSupervisorStep(state: DoorSupervisorState, input: DoorSupervisorInput, now: number, config: DoorSupervisorConfig): DoorSupervisorStep {
  switch (input.type) {
    case 'command-open':
      return command(state, input.opId, input.door, now, config);
    case 'door':
      return doorChange(state, input.state, now, config);
    case 'sensor-flapping':
      return sensorFlapping(state, input.edges, input.windowMs);
    case 'pulse-failed': {
      if (state.kind !== 'unlocking' || state.opId !== input.opId) return { state, effects: [] };
      if (input.energised) {
        // The latch may have released: keep waiting for the sensor (open-wait still runs).
        return {
          state: { ...state, relayFailed: true },
          effects: [
            { type: 'audit', auditType: 'door.relay-fault', lane: 'priority', data: { opId: input.opId, energised: true } },
            { type: 'failure', reason: 'relay-fault' },
          ],
        };
      }
      return {
        state: doorAtRest,
        effects: [
          { type: 'cancel-timer', timer: 'open-wait' },
          { type: 'finish-open', opId: input.opId, outcome: 'relay-fault' },
          { type: 'audit', auditType: 'door.relay-fault', lane: 'priority', data: { opId: input.opId } },
          { type: 'failure', reason: 'relay-fault' },
          { type: 'door-event', opId: input.opId, event: 'relay-fault' },
        ],
      };
    }
    case 'timeout': {
      if (input.timer === 'open-wait' && state.kind === 'unlocking' && state.sensorLost === true) {
        // The relay fired and the sensor cannot say whether the door opened.
        return {
          state: doorAtRest,
          effects: [
            { type: 'finish-open', opId: state.opId, outcome: 'unknown' },
            { type: 'audit', auditType: 'door.sensor-unknown', lane: 'priority', data: { opId: state.opId, pulsed: true } },
            { type: 'failure', reason: 'sensor-unknown' },
            { type: 'door-event', opId: state.opId, event: 'unverified' },
          ],
        };
      }
      if (input.timer === 'open-wait' && state.kind === 'unlocking') {
        return {
          state: doorAtRest,
          effects: [
            { type: 'finish-open', opId: state.opId, outcome: 'jammed' },
            { type: 'audit', auditType: 'door.jammed', lane: 'priority', data: { opId: state.opId, waitedMs: now - state.since } },
            { type: 'failure', reason: 'jammed' },
            { type: 'door-event', opId: state.opId, event: 'jammed' },
          ],
        };
      }
      if (input.timer === 'left-open' && state.kind === 'open') {
        const alarms = state.alarms + 1;
        return {
          state: { ...state, alarms },
          effects: [
            ...(alarms === 1 ? [{ type: 'audit', auditType: 'door.left-open', lane: 'priority', data: { openMs: now - state.since } } as const] : []),
            { type: 'alarm', reason: 'left-open', active: true },
            { type: 'start-timer', timer: 'left-open', ms: config.leftOpenRepeatMs },
          ],
        };
      }
      return { state, effects: [] };
    }
  }
}
