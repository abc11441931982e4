import { describe, expect, it } from 'vitest';
import { parseHardwareConfig } from '@locker/hal/hardware-config.js';
import { sanitizeDisplayText } from '@locker/hal/real/serial-indicator.js';
import type { DisplayMessage } from '@locker/hal/types.js';
import { courierPrefixPrompt, courierSessionStep, type CourierSessionInput, type CourierSessionState, type DepositSlot } from './courier-session.js';
import { doorOpenMessage, lockedMessage, messages } from './display-messages.js';
import { idleMessage } from './keypad-entry.js';

// The simulated indicator records a message whole; the real display controller gets it cut
// to its width (SerialIndicator, `display.maxTextLength`, 64 unless configured). Every
// test of a flow reads the simulated one, so an instruction past the width passed them all
// while a courier at a real locker never saw it. This runs each text the core shows through
// the real driver's formatting at the default width.

const real = parseHardwareConfig({
  kind: 'real',
  compartments: [{ id: 'A01', relayPin: 5, doorPin: 6 }],
  keypad: { path: '/dev/ttyUSB0' },
  scanner: { path: '/dev/ttyUSB1' },
  display: { path: '/dev/ttyUSB2' },
});
const width = real.kind === 'real' ? real.display.maxTextLength : 0;

/** What the real display shows equals what a display without a width limit would show. */
function reachesWhole(message: DisplayMessage): void {
  expect(sanitizeDisplayText(message.text, width), message.text).toBe(sanitizeDisplayText(message.text, 10_000));
}

const config = { sessionMs: 300_000 };
const courier = { tokenId: 'courier_token_0001', sub: 'c-17', expiresAt: 10_000_000 };
const slot: DepositSlot = { tokenId: 'tok_000000000001', parcelId: 'P1', assignedId: 'A01', compartmentId: 'A01', size: 'M', opId: 'op1', tried: ['A01'] };
const ready: CourierSessionState = { kind: 'ready', courier, deposits: 0 };
const opening: CourierSessionState = { kind: 'opening', courier, deposits: 0, slot };
const doorOpen: CourierSessionState = { kind: 'door-open', courier, deposits: 0, slot, verified: true, abandoned: false };

function courierTexts(from: CourierSessionState, input: CourierSessionInput): DisplayMessage[] {
  return courierSessionStep(from, input, config).effects.flatMap((e) => (e.type === 'show' || e.type === 'ended' ? [e.message] : []));
}

describe('display texts on the real display', () => {
  it('uses the width a real locker is configured with by default', () => {
    expect(width).toBe(64);
  });

  it('shows every fixed customer message whole', () => {
    for (const message of Object.values(messages)) reachesWhole(message);
    for (const ms of [1_000, 30_000, 59_000, 900_000, 3_600_000]) reachesWhole(lockedMessage(ms));
    reachesWhole(idleMessage(8));
    reachesWhole(doorOpenMessage('A01'));
  });

  it("shows every courier instruction whole, the door-open prompt's keys included", () => {
    const shown = [
      ...courierTexts(ready, { type: 'key', key: 'cancel' }),
      ...courierTexts({ kind: 'none' }, { type: 'credential', courier }),
      ...courierTexts(ready, { type: 'slot-opening', slot }),
      ...courierTexts(opening, { type: 'door-event', opId: 'op1', event: 'opened' }),
      ...courierTexts(opening, { type: 'door-event', opId: 'op1', event: 'unverified' }),
      ...courierTexts(doorOpen, { type: 'door-event', opId: 'op1', event: 'closed' }),
      ...courierTexts(doorOpen, { type: 'no-other-compartment' }),
      ...courierTexts(opening, { type: 'no-other-compartment' }),
      ...courierTexts(doorOpen, { type: 'credential-invalid', message: messages.courierRevoked }),
      ...courierTexts(doorOpen, { type: 'credential-invalid', message: messages.courierExpired }),
      courierPrefixPrompt('A01', true),
      courierPrefixPrompt('A01', false),
    ];
    expect(shown.length).toBeGreaterThanOrEqual(12);
    for (const message of shown) reachesWhole(message);
  });
});
