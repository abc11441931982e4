import type { DisplayMessage } from '@locker/hal/types.js';

// Every text the person at the locker sees, in one place. One "not valid" text covers
// unknown, forged, mutated, wrong-locker, used and tampered credentials alike: telling
// them apart would tell an attacker which check a guess failed. Only a correct credential
// in a wrong state (not deposited yet, pickup period over, revoked) gets a specific text,
// since only its holder can reach it.
//
// The real display shows at most `display.maxTextLength` characters (64 by default) and
// cuts the rest (hal/real/serial-indicator.ts); the simulated one shows everything. Every
// text must fit 64 with a short compartment id (display-width.test.ts).

export const messages = {
  notValid: { tone: 'error', text: 'Code not valid. Please check and try again.' },
  notYetAvailable: { tone: 'error', text: 'Your parcel is not available yet.' },
  expired: { tone: 'error', text: 'The pickup period has ended. Please contact support.' },
  revoked: { tone: 'error', text: 'This code is no longer valid. Please contact support.' },
  genericError: { tone: 'error', text: 'Something went wrong. Please try again.' },
  scanNotRecognised: { tone: 'error', text: 'Scan not recognised.' },
  noCompartment: { tone: 'error', text: 'No suitable compartment is free. Please contact support.' },
  doorDidNotOpen: { tone: 'error', text: 'The door did not open. Please try again or contact support.' },
  /** The database cannot be written (disk full): nothing may open without its record. */
  unavailable: { tone: 'error', text: 'Locker temporarily unavailable. Please try again later.' },
  busy: { tone: 'error', text: 'Please wait a moment and try again.' },
  cannotRelease: { tone: 'error', text: 'Your parcel cannot be released now. Please contact support.' },
  courierRevoked: { tone: 'error', text: 'Courier credential no longer valid.' },
  courierExpired: { tone: 'error', text: 'Courier credential expired.' },
} as const satisfies Record<string, DisplayMessage>;

/**
 * The remaining lockout as the person will experience it: seconds under a minute (the
 * first lockout is 30 s; "1 min" for it doubled the wait a customer expected), otherwise
 * whole minutes, both rounded up so the keypad is never still locked when the text says
 * it is free.
 */
export function lockedMessage(remainingMs: number): DisplayMessage {
  const seconds = Math.max(1, Math.ceil(remainingMs / 1000));
  const wait = seconds < 60 ? `${String(seconds)} s` : `${String(Math.ceil(seconds / 60))} min`;
  return { tone: 'error', text: `Keypad locked after too many wrong codes. Try again in ${wait}.` };
}

export function doorOpenMessage(compartmentId: string, text = 'Door open: please take your parcel and close the door.'): DisplayMessage {
  return { tone: 'success', text: `${compartmentId}: ${text}`, compartmentId };
}
