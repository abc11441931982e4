import type { AuditEventData, AuditEventType } from '@locker/contract/audit-events/index.js';
import type { BeepPattern, DisplayMessage, Key } from '@locker/hal/types.js';
import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import type { DoorEvent } from './door-supervisor.js';

// A courier's deposit session: credential accepted → scan parcels one after another →
// each opens a compartment → door closed = deposit confirmed. While a deposit door is open
// the courier can press Cancel then 1 ("doesn't fit, needs larger") or Cancel then 2 ("door
// faulty"; the runtime delivers only prefixed keys here): the runtime
// then opens another free compartment of the same or larger size (strictly larger for 1)
// and records the re-slot. Pure: the runtime resolves scans, chooses compartments and
// starts the opens, and feeds the results back in.

export interface CourierIdentity {
  /** The credential's jti: checked against the revocation set before every opening. */
  tokenId: string;
  sub?: string;
  /** The credential's exp (epoch ms): no compartment opens for the session after it. */
  expiresAt: number;
}

export interface DepositSlot {
  tokenId: string;
  parcelId: string;
  /** The compartment the backend assigned (the token's cmp). */
  assignedId: string;
  compartmentId: string;
  size: CompartmentSize;
  opId: string;
  /** Every compartment tried for this parcel so far, current one included. */
  tried: readonly string[];
}

export type CourierSessionState =
  | { kind: 'none' }
  | { kind: 'ready'; courier: CourierIdentity; deposits: number }
  | { kind: 'opening'; courier: CourierIdentity; deposits: number; slot: DepositSlot }
  | { kind: 'door-open'; courier: CourierIdentity; deposits: number; slot: DepositSlot; verified: boolean; abandoned: boolean };

export type ReslotReason = 'needs-larger' | 'door-faulty';

export type CourierSessionInput =
  | { type: 'credential'; courier: CourierIdentity }
  | { type: 'slot-opening'; slot: DepositSlot }
  | { type: 'parcel-refused'; message: DisplayMessage }
  | { type: 'no-other-compartment' }
  /** The credential expired or was revoked since the session started: nothing opens any more. */
  | { type: 'credential-invalid'; message: DisplayMessage }
  | { type: 'door-event'; opId: string | undefined; event: DoorEvent }
  | { type: 'key'; key: Key }
  | { type: 'timeout' };

export type CourierSessionEffect =
  | { type: 'show'; message: DisplayMessage }
  | { type: 'beep'; pattern: BeepPattern }
  | { type: 'start-timer'; ms: number }
  | { type: 'cancel-timer' }
  | { type: 'confirm-deposit'; slot: DepositSlot }
  | { type: 'request-reslot'; reason: ReslotReason; slot: DepositSlot }
  | { [T in AuditEventType]: { type: 'audit'; auditType: T; data: AuditEventData<T> } }[AuditEventType]
  /** The session is over; the shell audits it and flashes `message` (then the idle prompt). */
  | { type: 'ended'; deposits: number; message: DisplayMessage };

export interface CourierSessionStep {
  state: CourierSessionState;
  effects: CourierSessionEffect[];
}

export interface CourierSessionConfig {
  sessionMs: number;
}

export const noCourierSession: CourierSessionState = { kind: 'none' };

const scanPrompt: DisplayMessage = { tone: 'prompt', text: 'Courier: scan a parcel barcode, or press Cancel to finish.' };

// The keypad is shared with customers: re-slot keys (and the manual confirmation of a
// door whose sensor cannot tell) only count after the courier prefix, Cancel, so a
// customer's code typed meanwhile is never read as courier commands (runtime/keypad-input).
// The prompt only points at Cancel: the keys behind it are listed by courierPrefixPrompt,
// since the display cuts whatever goes past its width (display-messages.ts).
function doorOpenPrompt(compartmentId: string, verified: boolean): DisplayMessage {
  const next = verified ? '. Problem? Press Cancel.' : ', then Cancel, Enter.';
  return { tone: 'success', text: `${compartmentId}: place the parcel, close the door${next}`, compartmentId };
}

/** Shown while the courier prefix is armed. */
export function courierPrefixPrompt(compartmentId: string, verified: boolean): DisplayMessage {
  return { tone: 'prompt', text: `Courier: 1 = does not fit, 2 = door faulty${verified ? '' : ', Enter = placed'}.`, compartmentId };
}

const sessionEnded: DisplayMessage = { tone: 'idle', text: 'Courier session ended.' };

// One effect says it: the message travels with 'ended' (a separate 'show' beside it made
// the shell display the text twice, once persistent and once flashed).
function end(deposits: number, message: DisplayMessage = sessionEnded): CourierSessionStep {
  return { state: noCourierSession, effects: [{ type: 'cancel-timer' }, { type: 'ended', deposits, message }] };
}

function ready(courier: CourierIdentity, deposits: number, config: CourierSessionConfig, message: DisplayMessage = scanPrompt): CourierSessionStep {
  return { state: { kind: 'ready', courier, deposits }, effects: [{ type: 'start-timer', ms: config.sessionMs }, { type: 'show', message }] };
}

export function courierSessionStep(state: CourierSessionState, input: CourierSessionInput, config: CourierSessionConfig): CourierSessionStep {
  const timer: CourierSessionEffect = { type: 'start-timer', ms: config.sessionMs };
  switch (input.type) {
    case 'credential':
      // A new credential while a door is open changes nothing: that deposit finishes first.
      if (state.kind === 'opening' || state.kind === 'door-open') return { state, effects: [{ type: 'beep', pattern: 'error' }] };
      return ready(input.courier, state.kind === 'ready' ? state.deposits : 0, config);
    case 'slot-opening':
      if (state.kind === 'none') return { state, effects: [] };
      return {
        state: { kind: 'opening', courier: state.courier, deposits: state.deposits, slot: input.slot },
        effects: [timer, { type: 'show', message: { tone: 'progress', text: `Opening ${input.slot.compartmentId}…`, compartmentId: input.slot.compartmentId } }],
      };
    case 'parcel-refused':
      if (state.kind !== 'ready') return { state, effects: [] };
      return { state, effects: [timer, { type: 'beep', pattern: 'error' }, { type: 'show', message: input.message }] };
    case 'no-other-compartment':
      if (state.kind === 'door-open') {
        return { state: { ...state, abandoned: true }, effects: [timer, { type: 'beep', pattern: 'error' }, { type: 'show', message: { tone: 'error', text: 'No other compartment free: take the parcel, close the door.' } }] };
      }
      if (state.kind === 'opening') return { ...ready(state.courier, state.deposits, config, { tone: 'error', text: 'No other compartment is free. Keep the parcel.' }) };
      return { state, effects: [] };
    case 'credential-invalid':
      // With a deposit door open, the parcel goes back to the courier and the door is
      // closed first; the next opening attempt then ends the session.
      if (state.kind === 'door-open') {
        return { state: { ...state, abandoned: true }, effects: [timer, { type: 'beep', pattern: 'error' }, { type: 'show', message: { tone: 'error', text: `${input.message.text} Take parcel, close door.` } }] };
      }
      if (state.kind === 'none') return { state, effects: [] };
      return end(state.deposits, input.message);
    case 'door-event':
      return doorEvent(state, input.opId, input.event, config);
    case 'key':
      return key(state, input.key, config);
    case 'timeout':
      if (state.kind === 'ready') return end(state.deposits);
      // Never end a session with a deposit door open: wait for it to close.
      if (state.kind === 'opening' || state.kind === 'door-open') return { state, effects: [timer] };
      return { state, effects: [] };
  }
}

function doorEvent(state: CourierSessionState, opId: string | undefined, event: DoorEvent, config: CourierSessionConfig): CourierSessionStep {
  if (state.kind !== 'opening' && state.kind !== 'door-open') return { state, effects: [] };
  if (opId !== state.slot.opId) return { state, effects: [] };
  const { slot } = state;
  switch (event) {
    case 'opened':
    case 'already-open':
    case 'unverified':
      if (state.kind !== 'opening') return { state, effects: [] };
      return {
        state: { kind: 'door-open', courier: state.courier, deposits: state.deposits, slot, verified: event !== 'unverified', abandoned: false },
        effects: [{ type: 'start-timer', ms: config.sessionMs }, { type: 'beep', pattern: 'success' }, { type: 'show', message: doorOpenPrompt(slot.compartmentId, event !== 'unverified') }],
      };
    case 'jammed':
    case 'relay-fault':
      // The door never opened: try another compartment as if the courier reported it faulty.
      return { state, effects: [{ type: 'request-reslot', reason: 'door-faulty', slot }] };
    case 'closed': {
      if (state.kind !== 'door-open') return { state, effects: [] };
      if (state.abandoned) return ready(state.courier, state.deposits, config);
      const confirmed = ready(state.courier, state.deposits + 1, config, { tone: 'success', text: `Deposit in ${slot.compartmentId} confirmed. Scan the next parcel or press Cancel.` });
      return { state: confirmed.state, effects: [{ type: 'confirm-deposit', slot }, ...confirmed.effects] };
    }
  }
}

function key(state: CourierSessionState, pressed: Key, config: CourierSessionConfig): CourierSessionStep {
  if (state.kind === 'ready') {
    if (pressed === 'cancel') return end(state.deposits);
    return { state, effects: [{ type: 'start-timer', ms: config.sessionMs }] };
  }
  if (state.kind !== 'door-open' || state.abandoned) return { state, effects: [] };
  if (pressed === '1' || pressed === '2') {
    const reason: ReslotReason = pressed === '1' ? 'needs-larger' : 'door-faulty';
    return { state, effects: [{ type: 'beep', pattern: 'key' }, { type: 'request-reslot', reason, slot: state.slot }] };
  }
  // With a dead door sensor no close will ever be reported: Enter confirms by hand.
  if (pressed === 'enter' && !state.verified) {
    const confirmed = ready(state.courier, state.deposits + 1, config);
    return { state: confirmed.state, effects: [{ type: 'confirm-deposit', slot: state.slot }, ...confirmed.effects] };
  }
  return { state, effects: [] };
}
