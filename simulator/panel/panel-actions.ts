import { z } from 'zod';
import { SimFaultName } from './panel-events.js';

// What the page can do to a locker, as one zod-validated body, and the console command
// line each action becomes. The panel drives the locker only through the console's
// command language (PanelPort.run), so a click and a typed command do exactly the same
// thing and print the same lines. Only this file knows the command words.

const compartmentId = z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,7}$/, 'a compartment id such as A03').transform((id) => id.toUpperCase());

export const PanelAction = z.discriminatedUnion('action', [
  /** Keypad: digits, '#' enter, '*' clear, 'C' cancel. */
  z.object({ action: z.literal('keys'), keys: z.string().min(1).max(64).regex(/^[0-9#*Cc]+$/, "only digits, '#', '*' and 'C'") }).strict(),
  /** Scanner: a barcode, a courier credential, a QR token (printable ASCII, one line). */
  z.object({ action: z.literal('scan'), text: z.string().trim().min(1).max(4_096).regex(/^[\x20-\x7e]+$/, 'printable ASCII on one line') }).strict(),
  /** The person at the locker pulls a door (it opens only when unlatched) or pushes it shut. */
  z.object({ action: z.literal('door'), compartmentId, open: z.boolean() }).strict(),
  z.object({ action: z.literal('fault'), compartmentId, fault: SimFaultName }).strict(),
  z.object({ action: z.literal('clear-fault'), compartmentId }).strict(),
  z.object({ action: z.literal('service'), compartmentId, inService: z.boolean() }).strict(),
  /** Kill the device process (no graceful stop); it boots again on the same database. */
  z.object({ action: z.literal('power-cut') }).strict(),
  z.object({ action: z.literal('network'), up: z.boolean() }).strict(),
  /**
   * 'forward': time passes for every locker and the backend (expiry, lockout end);
   * 'wall': only this locker's wall clock jumps (an RTC fault), forwards or back.
   */
  z.object({ action: z.literal('clock'), mode: z.enum(['forward', 'wall']), minutes: z.number().int().min(-60 * 24 * 365).max(60 * 24 * 365) })
    .strict()
    .refine((a) => a.mode === 'wall' ? a.minutes !== 0 : a.minutes > 0, { message: 'forward takes a positive number of minutes, wall a non-zero one', path: ['minutes'] }),
  /** Wrong codes typed as fast as the keypad takes them: the lockout must hold. */
  z.object({ action: z.literal('flood-keypad'), codes: z.number().int().min(1).max(1_000).default(10) }).strict(),
  /** Time passes beyond every parcel's pickup window here: parcels are flagged for return. */
  z.object({ action: z.literal('expire') }).strict(),
  /** A courier comes for an expired or returned parcel with a return-retrieval token. */
  z.object({ action: z.literal('retrieve') }).strict(),
  /** Any console line, as typed in the console (the panel's command box). */
  z.object({ action: z.literal('command'), line: z.string().trim().min(1).max(4_096).regex(/^[\x20-\x7e]+$/, 'printable ASCII on one line') }).strict(),
]);
export type PanelAction = z.infer<typeof PanelAction>;

/**
 * The console line for an action, in the words of the simulator's console (commands.ts,
 * docs/operations.md "Simulator"); if a word changes there, it changes here only.
 */
export function commandLineOf(action: PanelAction): string {
  switch (action.action) {
    case 'keys':
      return `keys ${action.keys}`;
    case 'scan':
      return `scan ${action.text}`;
    case 'door':
      return `${action.open ? 'open' : 'close'} ${action.compartmentId}`;
    case 'fault':
      return `fault ${action.compartmentId} ${action.fault}`;
    case 'clear-fault':
      return `clear-fault ${action.compartmentId}`;
    case 'service':
      return `service ${action.compartmentId} ${action.inService ? 'on' : 'off'}`;
    case 'power-cut':
      return 'power-cut';
    case 'network':
      return `network ${action.up ? 'on' : 'off'}`;
    case 'clock':
      return action.mode === 'forward' ? `clock forward ${String(action.minutes)}m` : `clock wall ${action.minutes > 0 ? '+' : ''}${String(action.minutes)}m`;
    case 'flood-keypad':
      return `flood ${String(action.codes)}`;
    case 'expire':
      return 'expire';
    case 'retrieve':
      return 'retrieve';
    case 'command':
      return action.line;
  }
}

/** Whether the line may reveal a secret when echoed back (a scanned token is never logged). */
export function actionIsSecret(action: PanelAction): boolean {
  return action.action === 'keys' || action.action === 'scan' || (action.action === 'command' && /^\s*(keys|type|scan)\b/i.test(action.line));
}
