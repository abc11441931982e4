import { describe, expect, it } from 'vitest';
import {
  canCommandOpen,
  doorAtBoot,
  doorAtRest,
  doorSupervisorStep,
  expectsDoorChange,
  type DoorSupervisorEffect,
  type DoorSupervisorInput,
  type DoorSupervisorState,
} from './door-supervisor.js';

const config = { openWaitMs: 10_000, leftOpenMs: 120_000, leftOpenRepeatMs: 60_000 };
const unlocking: DoorSupervisorState = { kind: 'unlocking', opId: 'op1', since: 0 };
const openCmd: DoorSupervisorState = { kind: 'open', opId: 'op1', since: 0, commanded: true, alarms: 0 };

function kinds(effects: DoorSupervisorEffect[]): string[] {
  return effects.map((e) => {
    switch (e.type) {
      case 'finish-open':
        return `finish:${e.outcome}`;
      case 'audit':
        return `audit:${e.auditType}`;
      case 'door-event':
        return `event:${e.event}`;
      case 'failure':
        return `failure:${e.reason}`;
      case 'start-timer':
      case 'cancel-timer':
        return `${e.type}:${e.timer}`;
      case 'alarm':
        return `alarm:${e.reason}:${String(e.active)}`;
      default:
        return e.type;
    }
  });
}

describe('door supervisor', () => {
  const table: Array<{ name: string; from: DoorSupervisorState; input: DoorSupervisorInput; to: DoorSupervisorState['kind']; effects: string[] }> = [
    { name: 'pulses and waits when commanded with the door closed', from: doorAtRest, input: { type: 'command-open', opId: 'op1', door: 'closed' }, to: 'unlocking', effects: ['pulse', 'start-timer:open-wait'] },
    { name: 'still pulses a door that is already open and records it', from: doorAtRest, input: { type: 'command-open', opId: 'op1', door: 'open' }, to: 'open', effects: ['pulse', 'finish:already-open', 'audit:door.already-open', 'start-timer:left-open', 'event:already-open'] },
    { name: 'still pulses when the sensor is unknown and records the outcome as unknown', from: doorAtRest, input: { type: 'command-open', opId: 'op1', door: 'unknown' }, to: 'rest', effects: ['pulse', 'finish:unknown', 'audit:door.sensor-unknown', 'failure:sensor-unknown', 'event:unverified'] },
    { name: 'ignores a second command while an earlier open still waits for its close', from: openCmd, input: { type: 'command-open', opId: 'op2', door: 'open' }, to: 'open', effects: [] },
    { name: 'still pulses a door found open without an operation', from: { ...openCmd, opId: undefined }, input: { type: 'command-open', opId: 'op2', door: 'open' }, to: 'open', effects: ['pulse', 'finish:already-open', 'audit:door.already-open', 'event:already-open'] },
    { name: 'ignores a second command while a pulse is in flight', from: unlocking, input: { type: 'command-open', opId: 'op2', door: 'closed' }, to: 'unlocking', effects: [] },
    { name: 'finishes as opened when the door opens after the pulse', from: unlocking, input: { type: 'door', state: 'open' }, to: 'open', effects: ['cancel-timer:open-wait', 'finish:opened', 'good-cycle', 'start-timer:left-open', 'event:opened'] },
    { name: 'finishes as jammed when the door does not open in time', from: unlocking, input: { type: 'timeout', timer: 'open-wait' }, to: 'rest', effects: ['finish:jammed', 'audit:door.jammed', 'failure:jammed', 'event:jammed'] },
    { name: 'finishes as relay fault when the pulse failed', from: unlocking, input: { type: 'pulse-failed', opId: 'op1', energised: false }, to: 'rest', effects: ['cancel-timer:open-wait', 'finish:relay-fault', 'audit:door.relay-fault', 'failure:relay-fault', 'event:relay-fault'] },
    { name: 'ignores a pulse failure of another operation', from: unlocking, input: { type: 'pulse-failed', opId: 'other', energised: false }, to: 'unlocking', effects: [] },
    { name: 'keeps waiting for the sensor when the pulse failed after energising the relay', from: unlocking, input: { type: 'pulse-failed', opId: 'op1', energised: true }, to: 'unlocking', effects: ['audit:door.relay-fault', 'failure:relay-fault'] },
    { name: 'finishes as opened without a good cycle when the door opens after an energised pulse failure', from: { ...unlocking, relayFailed: true }, input: { type: 'door', state: 'open' }, to: 'open', effects: ['cancel-timer:open-wait', 'finish:opened', 'start-timer:left-open', 'event:opened'] },
    { name: 'finishes as unknown, not jammed, when the sensor was lost while waiting for the door', from: { ...unlocking, sensorLost: true }, input: { type: 'timeout', timer: 'open-wait' }, to: 'rest', effects: ['finish:unknown', 'audit:door.sensor-unknown', 'failure:sensor-unknown', 'event:unverified'] },
    { name: 'finishes as jammed when the lost sensor read closed again before the timeout', from: { ...unlocking, sensorLost: false }, input: { type: 'timeout', timer: 'open-wait' }, to: 'rest', effects: ['finish:jammed', 'audit:door.jammed', 'failure:jammed', 'event:jammed'] },
    { name: 'keeps waiting when the sensor goes unknown during the unlock', from: unlocking, input: { type: 'door', state: 'unknown' }, to: 'unlocking', effects: [] },
    { name: 'raises a priority audit and an alarm for an uncommanded open', from: doorAtRest, input: { type: 'door', state: 'open' }, to: 'open', effects: ['audit:door.uncommanded-open', 'alarm:uncommanded-open:true', 'start-timer:left-open'] },
    { name: 'reports the close of a commanded open', from: openCmd, input: { type: 'door', state: 'closed' }, to: 'rest', effects: ['cancel-timer:left-open', 'audit:door.closed', 'event:closed'] },
    { name: 'sounds the left-open alarm and repeats it', from: openCmd, input: { type: 'timeout', timer: 'left-open' }, to: 'open', effects: ['audit:door.left-open', 'alarm:left-open:true', 'start-timer:left-open'] },
    { name: 'repeats the alarm without a second audit', from: { ...openCmd, alarms: 1 }, input: { type: 'timeout', timer: 'left-open' }, to: 'open', effects: ['alarm:left-open:true', 'start-timer:left-open'] },
    { name: 'clears the alarms when a left-open door closes', from: { ...openCmd, alarms: 2, commanded: false }, input: { type: 'door', state: 'closed' }, to: 'rest', effects: ['cancel-timer:left-open', 'audit:door.closed', 'alarm:left-open:false', 'alarm:uncommanded-open:false', 'event:closed'] },
    { name: 'reports a sensor that goes unknown at rest', from: doorAtRest, input: { type: 'door', state: 'unknown' }, to: 'rest', effects: ['audit:door.sensor-unknown'] },
    { name: 'reports a flapping sensor at rest once, with the count', from: doorAtRest, input: { type: 'sensor-flapping', edges: 6, windowMs: 5000 }, to: 'rest', effects: ['audit:door.sensor-unknown'] },
    { name: 'reports a flapping sensor during an unlock and lets the open-wait timeout decide as for a lost sensor', from: unlocking, input: { type: 'sensor-flapping', edges: 6, windowMs: 5000 }, to: 'unlocking', effects: ['audit:door.sensor-unknown'] },
    { name: 'ignores a stale open-wait timeout', from: doorAtRest, input: { type: 'timeout', timer: 'open-wait' }, to: 'rest', effects: [] },
    { name: 'ignores a closed reading at rest', from: doorAtRest, input: { type: 'door', state: 'closed' }, to: 'rest', effects: [] },
  ];
  for (const c of table) {
    it(c.name, () => {
      const step = doorSupervisorStep(c.from, c.input, 5000, config);
      expect(step.state.kind).toBe(c.to);
      expect(kinds(step.effects)).toEqual(c.effects);
    });
  }

  it('expects a change only from a door answering its pulse or a commanded open door', () => {
    expect(expectsDoorChange(unlocking)).toBe(true);
    expect(expectsDoorChange(openCmd)).toBe(true);
    expect(expectsDoorChange(doorAtBoot('open', 0))).toBe(true);
    expect(expectsDoorChange(doorAtRest)).toBe(false);
    expect(expectsDoorChange({ ...openCmd, opId: undefined, commanded: false })).toBe(false);
  });

  it('allows one operation per compartment, until its door has closed again', () => {
    expect(canCommandOpen(doorAtRest)).toBe(true);
    expect(canCommandOpen(unlocking)).toBe(false);
    expect(canCommandOpen(openCmd)).toBe(false);
    expect(canCommandOpen({ ...openCmd, opId: undefined })).toBe(true);
  });

  it('keeps the first operation as the owner of an open door when a second command comes in', () => {
    const second = doorSupervisorStep(openCmd, { type: 'command-open', opId: 'op2', door: 'open' }, 100, config);
    const closed = doorSupervisorStep(second.state, { type: 'door', state: 'closed' }, 200, config);
    expect(closed.effects).toContainEqual({ type: 'door-event', opId: 'op1', event: 'closed' });
  });

  it('supervises a door found open at boot without calling it an intrusion', () => {
    expect(doorAtBoot('open', 1)).toMatchObject({ kind: 'open', commanded: true });
    expect(doorAtBoot('closed', 1)).toEqual(doorAtRest);
    expect(doorAtBoot('unknown', 1)).toEqual(doorAtRest);
  });

  it('routes the events to the operation that asked for the open', () => {
    const step = doorSupervisorStep(unlocking, { type: 'door', state: 'open' }, 100, config);
    expect(step.effects).toContainEqual({ type: 'door-event', opId: 'op1', event: 'opened' });
    const closed = doorSupervisorStep(step.state, { type: 'door', state: 'closed' }, 200, config);
    expect(closed.effects).toContainEqual({ type: 'door-event', opId: 'op1', event: 'closed' });
  });

  it('reports an open as unverified when the sensor dies after the pulse and stays dead', () => {
    const lost = doorSupervisorStep(unlocking, { type: 'door', state: 'unknown' }, 100, config);
    expect(lost.effects).toEqual([]);
    const timedOut = doorSupervisorStep(lost.state, { type: 'timeout', timer: 'open-wait' }, 10_000, config);
    expect(timedOut.effects).toContainEqual({ type: 'door-event', opId: 'op1', event: 'unverified' });
    expect(timedOut.effects).toContainEqual({ type: 'finish-open', opId: 'op1', outcome: 'unknown' });
  });
});
