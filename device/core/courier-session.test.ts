import { describe, expect, it } from 'vitest';
import { courierPrefixPrompt, courierSessionStep, noCourierSession, type CourierSessionInput, type CourierSessionState, type DepositSlot } from './courier-session.js';

const config = { sessionMs: 300_000 };
const courier = { tokenId: 'courier_token_0001', sub: 'c-17', expiresAt: 10_000_000 };
const slot: DepositSlot = { tokenId: 'tok_000000000001', parcelId: 'P1', assignedId: 'A01', compartmentId: 'A01', size: 'M', opId: 'op1', tried: ['A01'] };
const readyState: CourierSessionState = { kind: 'ready', courier, deposits: 0 };
const opening: CourierSessionState = { kind: 'opening', courier, deposits: 0, slot };
const doorOpen: CourierSessionState = { kind: 'door-open', courier, deposits: 0, slot, verified: true, abandoned: false };

describe('courier session', () => {
  const table: Array<{ name: string; from: CourierSessionState; input: CourierSessionInput; to: CourierSessionState['kind']; effects: string[] }> = [
    { name: 'starts a session when a courier credential is accepted', from: noCourierSession, input: { type: 'credential', courier }, to: 'ready', effects: ['start-timer', 'show'] },
    { name: 'waits for the door after a parcel slot starts opening', from: readyState, input: { type: 'slot-opening', slot }, to: 'opening', effects: ['start-timer', 'show'] },
    { name: 'prompts the courier when the door opened', from: opening, input: { type: 'door-event', opId: 'op1', event: 'opened' }, to: 'door-open', effects: ['start-timer', 'beep', 'show'] },
    { name: 'ignores door events of other operations', from: opening, input: { type: 'door-event', opId: 'op9', event: 'opened' }, to: 'opening', effects: [] },
    { name: 'asks for another compartment when the door jammed', from: opening, input: { type: 'door-event', opId: 'op1', event: 'jammed' }, to: 'opening', effects: ['request-reslot'] },
    { name: 'confirms the deposit when the door closes', from: doorOpen, input: { type: 'door-event', opId: 'op1', event: 'closed' }, to: 'ready', effects: ['confirm-deposit', 'start-timer', 'show'] },
    { name: 'asks for a larger compartment on key 1', from: doorOpen, input: { type: 'key', key: '1' }, to: 'door-open', effects: ['beep', 'request-reslot'] },
    { name: 'asks for another compartment on key 2', from: doorOpen, input: { type: 'key', key: '2' }, to: 'door-open', effects: ['beep', 'request-reslot'] },
    { name: 'does not confirm by Enter when the sensor works', from: doorOpen, input: { type: 'key', key: 'enter' }, to: 'door-open', effects: [] },
    { name: 'confirms by Enter when the door sensor could not verify', from: { ...doorOpen, verified: false }, input: { type: 'key', key: 'enter' }, to: 'ready', effects: ['confirm-deposit', 'start-timer', 'show'] },
    { name: 'ends the session on cancel', from: readyState, input: { type: 'key', key: 'cancel' }, to: 'none', effects: ['cancel-timer', 'ended'] },
    { name: 'ends the session on timeout when no door is open', from: readyState, input: { type: 'timeout' }, to: 'none', effects: ['cancel-timer', 'ended'] },
    { name: 'keeps the session while a deposit door is open', from: doorOpen, input: { type: 'timeout' }, to: 'door-open', effects: ['start-timer'] },
    { name: 'does not confirm a deposit after the courier took the parcel back', from: { ...doorOpen, abandoned: true }, input: { type: 'door-event', opId: 'op1', event: 'closed' }, to: 'ready', effects: ['start-timer', 'show'] },
    { name: 'tells the courier when no other compartment is free', from: doorOpen, input: { type: 'no-other-compartment' }, to: 'door-open', effects: ['start-timer', 'beep', 'show'] },
    { name: 'shows why a parcel scan was refused', from: readyState, input: { type: 'parcel-refused', message: { tone: 'error', text: 'x' } }, to: 'ready', effects: ['start-timer', 'beep', 'show'] },
    { name: 'ends a ready session when its credential expired or was revoked', from: readyState, input: { type: 'credential-invalid', message: { tone: 'error', text: 'x' } }, to: 'none', effects: ['cancel-timer', 'ended'] },
    { name: 'ends a session whose re-slot opening was refused for an invalid credential', from: opening, input: { type: 'credential-invalid', message: { tone: 'error', text: 'x' } }, to: 'none', effects: ['cancel-timer', 'ended'] },
    { name: 'sends the parcel back when the credential became invalid with a deposit door open', from: doorOpen, input: { type: 'credential-invalid', message: { tone: 'error', text: 'x' } }, to: 'door-open', effects: ['start-timer', 'beep', 'show'] },
    { name: 'ignores a credential while a deposit door is open', from: doorOpen, input: { type: 'credential', courier }, to: 'door-open', effects: ['beep'] },
  ];
  for (const c of table) {
    it(c.name, () => {
      const step = courierSessionStep(c.from, c.input, config);
      expect(step.state.kind).toBe(c.to);
      expect(step.effects.map((e) => e.type)).toEqual(c.effects);
    });
  }

  it('tells the courier the re-slot keys need the Cancel prefix, and offers Enter only for a door the sensor cannot verify', () => {
    const shown = (event: 'opened' | 'unverified'): string => {
      const step = courierSessionStep(opening, { type: 'door-event', opId: 'op1', event }, config);
      const show = step.effects.find((e) => e.type === 'show');
      return show?.type === 'show' ? show.message.text : '';
    };
    expect(shown('opened')).toBe('A01: place the parcel, close the door. Problem? Press Cancel.');
    expect(shown('unverified')).toBe('A01: place the parcel, close the door, then Cancel, Enter.');
    expect(courierPrefixPrompt('A01', true).text).toBe('Courier: 1 = does not fit, 2 = door faulty.');
    expect(courierPrefixPrompt('A01', false).text).toBe('Courier: 1 = does not fit, 2 = door faulty, Enter = placed.');
  });

  it('counts confirmed deposits across parcels', () => {
    const step = courierSessionStep(doorOpen, { type: 'door-event', opId: 'op1', event: 'closed' }, config);
    expect(step.state).toMatchObject({ kind: 'ready', deposits: 1 });
  });

  it("says 'Courier session ended.' exactly once, with the ended effect", () => {
    const step = courierSessionStep(readyState, { type: 'key', key: 'cancel' }, config);
    const texts = step.effects.flatMap((e) => (e.type === 'show' || e.type === 'ended' ? [e.message.text] : []));
    expect(texts).toEqual(['Courier session ended.']);
  });
});
