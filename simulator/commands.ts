import { z } from 'zod';
import { CompartmentId, CompartmentSize, ParcelId } from '@locker/contract/tokens/claims.js';
import type { SimFault } from '@locker/hal/sim/compartment-model.js';

// The technician console's command language: one command per line, words separated by
// spaces. Every line is validated with zod; a bad line yields an error message (with the
// usage) and never an exception, because a typo must not take the locker down.

export const simFaults = [
  'door-jammed', 'stuck-relay', 'relay-dead', 'sensor-dead', 'sensor-bouncing', 'sensor-stuck-closed', 'forced-open',
] as const satisfies readonly SimFault[];

export type Command =
  | { name: 'keys'; keys: string }
  | { name: 'scan'; text: string }
  | { name: 'open'; compartmentId: string }
  | { name: 'close'; compartmentId: string }
  | { name: 'fault'; compartmentId: string; fault: SimFault }
  | { name: 'clear-fault'; compartmentId: string; fault?: SimFault }
  | { name: 'auto-open'; enabled: boolean; compartmentId?: string }
  | { name: 'auto-close'; afterMs: number | undefined; compartmentId?: string }
  | { name: 'noise'; source: 'keypad' | 'scanner' }
  | { name: 'parcel'; size?: CompartmentSize }
  | { name: 'courier' }
  | { name: 'qr'; parcelId?: string }
  | { name: 'service'; compartmentId: string; inService: boolean }
  | { name: 'wait'; ms: number }
  | { name: 'status' }
  | { name: 'display'; count: number }
  | { name: 'audit'; count: number }
  | { name: 'use'; lockerId: string }
  | { name: 'lockers' }
  | { name: 'clock'; action: 'show' }
  | { name: 'clock'; action: 'forward'; ms: number }
  | { name: 'clock'; action: 'wall'; ms: number }
  | { name: 'expire' }
  | { name: 'retrieve'; parcelId?: string }
  | { name: 'return'; parcelId?: string }
  | { name: 'network'; up: boolean }
  | { name: 'power-cut'; afterMs: number; offMs: number }
  | { name: 'flood'; codes: number }
  | { name: 'service-open'; compartmentId: string }
  | { name: 'remote-open'; compartmentId: string }
  | { name: 'notices' }
  | { name: 'help' }
  | { name: 'quit' };

export type ParseResult = { ok: true; command: Command } | { ok: true; command: undefined } | { ok: false; error: string };

const compartment = CompartmentId.transform((id) => id.toUpperCase());
const fault = z.enum(simFaults);
const onOff = z.enum(['on', 'off']).transform((v) => v === 'on');
/** An optional count argument: 1-1000, 10 when absent. */
const optionalCount = z
  .array(z.string())
  .max(1, 'at most one number')
  .transform((args) => args[0] ?? '10')
  .pipe(z.string().regex(/^\d{1,4}$/, 'expected a number').transform(Number).pipe(z.number().int().min(1).max(1000)));
/** What the keypad controller sends: digits, '#' enter, '*' clear, 'C' cancel. */
const keys = z
  .string()
  .max(64)
  .regex(/^[0-9#*Cc]+$/, "only digits, '#' (enter), '*' (clear) and 'C' (cancel)")
  .transform((k) => k.toUpperCase());
/** A scan is printable ASCII; the scanner's own maximum is checked by the driver. */
const scanText = z.string().min(1).max(65_536).regex(/^[\x20-\x7e]+$/, 'printable ASCII only');

/** A duration: 500ms, 90s, 15m, 73h, 2d; `signed` allows a leading + or -. */
export function parseDuration(text: string, signed: boolean): number | undefined {
  const match = (signed ? /^([+-]?)(\d+(?:\.\d+)?)(ms|s|m|min|h|d)$/ : /^()(\d+(?:\.\d+)?)(ms|s|m|min|h|d)$/).exec(text.toLowerCase());
  if (match === null) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[match[3] as 'ms' | 's' | 'm' | 'min' | 'h' | 'd'];
  const ms = Math.round(Number(match[2]) * unit);
  return match[1] === '-' ? -ms : ms;
}

const millis = (max: number) => z.string().regex(/^\d{1,7}$/, 'expected milliseconds').transform(Number).pipe(z.number().int().max(max));
const lockerIdArg = z.string().min(1).max(64);

interface CommandSpec {
  usage: string;
  summary: string;
  /** Parses the words after the command name (scan gets the rest of the line as one word). */
  schema: z.ZodType<Command>;
}

export const commandSpecs: Readonly<Record<Command['name'], CommandSpec>> = {
  keys: {
    usage: 'keys <keys>',
    summary: "type on the keypad, e.g. 'keys 12345678#' ('#' enter, '*' clear, 'C' cancel)",
    schema: z.tuple([keys]).transform(([k]) => ({ name: 'keys' as const, keys: k })),
  },
  scan: {
    usage: 'scan <text>',
    summary: 'present a barcode / QR code to the scanner (a token or a parcel id)',
    schema: z.tuple([scanText]).transform(([text]) => ({ name: 'scan' as const, text })),
  },
  open: {
    usage: 'open <compartment>',
    summary: 'a person pulls the door (opens only if the latch is released)',
    schema: z.tuple([compartment]).transform(([id]) => ({ name: 'open' as const, compartmentId: id })),
  },
  close: {
    usage: 'close <compartment>',
    summary: 'a person pushes the door shut',
    schema: z.tuple([compartment]).transform(([id]) => ({ name: 'close' as const, compartmentId: id })),
  },
  fault: {
    usage: 'fault <compartment> <fault>',
    summary: `inject a hardware fault: ${simFaults.join(', ')}`,
    schema: z.tuple([compartment, fault]).transform(([id, f]) => ({ name: 'fault' as const, compartmentId: id, fault: f })),
  },
  'clear-fault': {
    usage: 'clear-fault <compartment> [fault]',
    summary: 'clear one fault, or all faults of the compartment',
    schema: z
      .tuple([compartment], fault)
      .refine((args) => args.length <= 2, 'at most one fault')
      .transform(([id, f]) => ({ name: 'clear-fault' as const, compartmentId: id, ...(f === undefined ? {} : { fault: f }) })),
  },
  'auto-open': {
    usage: 'auto-open on|off [compartment]',
    summary: 'whether the person pulls the door as soon as the latch releases (all compartments by default)',
    schema: z
      .tuple([onOff], compartment)
      .refine((args) => args.length <= 2, 'at most one compartment')
      .transform(([on, id]) => ({ name: 'auto-open' as const, enabled: on, ...(id === undefined ? {} : { compartmentId: id }) })),
  },
  'auto-close': {
    usage: 'auto-close <ms>|off [compartment]',
    summary: 'the person closes an opened door by itself after <ms>',
    schema: z
      .tuple([z.union([z.literal('off').transform(() => undefined), z.coerce.number().int().min(0).max(600_000)])], compartment)
      .refine((args) => args.length <= 2, 'at most one compartment')
      .transform(([ms, id]) => ({ name: 'auto-close' as const, afterMs: ms, ...(id === undefined ? {} : { compartmentId: id }) })),
  },
  noise: {
    usage: 'noise keypad|scanner',
    summary: 'line noise on the keypad or scanner cable (the runtime must reject it)',
    schema: z.tuple([z.enum(['keypad', 'scanner'])]).transform(([source]) => ({ name: 'noise' as const, source })),
  },
  parcel: {
    usage: 'parcel [S|M|L|XL]',
    summary: 'the backend ships a new parcel here (order, shipment, tokens, code batch); the code is shown once deposited',
    schema: z
      .array(z.string().toUpperCase().pipe(CompartmentSize))
      .max(1)
      .transform(([size]) => ({ name: 'parcel' as const, ...(size === undefined ? {} : { size }) })),
  },
  courier: {
    usage: 'courier',
    summary: "the courier scans the credential issued with the last 'parcel' (then 'scan <parcel id>')",
    schema: z.tuple([]).transform(() => ({ name: 'courier' as const })),
  },
  qr: {
    usage: 'qr [parcel id]',
    summary: 'the customer shows the QR code from their pickup notice at the scanner (the last one by default)',
    schema: z
      .array(ParcelId)
      .max(1)
      .transform(([parcelId]) => ({ name: 'qr' as const, ...(parcelId === undefined ? {} : { parcelId }) })),
  },
  service: {
    usage: 'service <compartment> on|off',
    summary: 'a technician returns a compartment to service (failures cleared) or takes it out',
    schema: z.tuple([compartment, onOff]).transform(([id, on]) => ({ name: 'service' as const, compartmentId: id, inService: on })),
  },
  wait: {
    usage: 'wait <ms>',
    summary: 'do nothing for <ms> (for scripts piped into the console)',
    schema: z
      .tuple([z.string().regex(/^\d{1,5}$/, 'expected milliseconds').transform(Number).pipe(z.number().int().max(60_000))])
      .transform(([ms]) => ({ name: 'wait' as const, ms })),
  },
  status: {
    usage: 'status',
    summary: 'compartments, doors, relays, faults, lockout, code-set version, audit watermark',
    schema: z.tuple([]).transform(() => ({ name: 'status' as const })),
  },
  display: {
    usage: 'display [n]',
    summary: 'the last n display messages (default 10)',
    schema: optionalCount.transform((n) => ({ name: 'display' as const, count: n })),
  },
  audit: {
    usage: 'audit [n]',
    summary: 'the last n audit records (default 10; ids and outcomes only, never codes or tokens)',
    schema: optionalCount.transform((n) => ({ name: 'audit' as const, count: n })),
  },
  use: {
    usage: 'use <locker id | number>',
    summary: "address another locker; '@<locker> <command>' addresses one for one command",
    schema: z.tuple([lockerIdArg]).transform(([lockerId]) => ({ name: 'use' as const, lockerId })),
  },
  lockers: {
    usage: 'lockers',
    summary: 'the lockers of this session: id, place, power, network',
    schema: z.tuple([]).transform(() => ({ name: 'lockers' as const })),
  },
  clock: {
    usage: 'clock [forward <duration> | wall <±duration>]',
    summary: "time: 'forward 73h' lets time pass for every locker and the backend; 'wall -1h' jumps this locker's wall clock only (RTC fault)",
    schema: z
      .array(z.string())
      .max(2)
      .transform((args, ctx): Command => {
        const [action, text] = args;
        if (action === undefined) return { name: 'clock', action: 'show' };
        const ms = text === undefined ? undefined : parseDuration(text, action === 'wall');
        const limit = 3_650 * 86_400_000;
        if ((action === 'forward' || action === 'wall') && ms !== undefined && Math.abs(ms) <= limit) return { name: 'clock', action, ms };
        ctx.addIssue({
          code: 'custom',
          message: action === 'forward' ? 'expected a duration such as 90s, 15m, 73h or 2d' : action === 'wall' ? 'expected a signed duration such as -1h or +10m' : "expected 'forward' or 'wall'",
        });
        return z.NEVER;
      }),
  },
  expire: {
    usage: 'expire',
    summary: "let time pass beyond every parcel's pickup window here (plus the device's grace): parcels are flagged for return",
    schema: z.tuple([]).transform(() => ({ name: 'expire' as const })),
  },
  retrieve: {
    usage: 'retrieve [parcel id]',
    summary: 'a courier comes for an expired or returned parcel: the backend issues a return-retrieval token, the courier scans it',
    schema: z.array(ParcelId).max(1).transform(([parcelId]) => ({ name: 'retrieve' as const, ...(parcelId === undefined ? {} : { parcelId }) })),
  },
  return: {
    usage: 'return [parcel id]',
    summary: 'the customer returns a collected parcel: the backend sends a drop-off code (type it with keys)',
    schema: z.array(ParcelId).max(1).transform(([parcelId]) => ({ name: 'return' as const, ...(parcelId === undefined ? {} : { parcelId }) })),
  },
  network: {
    usage: 'network on|off',
    summary: "pull or plug this locker's network cable (the MQTT connection drops; the agent reconnects by itself)",
    schema: z.tuple([onOff]).transform(([up]) => ({ name: 'network' as const, up })),
  },
  'power-cut': {
    usage: 'power-cut [after-ms] [off-ms]',
    summary: 'kill the device process abruptly (no graceful stop) after <after-ms>, boot it again on the same database after <off-ms>',
    schema: z
      .array(millis(600_000))
      .max(2)
      .transform(([afterMs, offMs]) => ({ name: 'power-cut' as const, afterMs: afterMs ?? 0, offMs: offMs ?? 200 })),
  },
  flood: {
    usage: 'flood [n]',
    summary: 'n wrong codes typed as fast as the keypad takes them (default 10): the lockout must hold',
    schema: optionalCount.transform((n) => ({ name: 'flood' as const, codes: n })),
  },
  'service-open': {
    usage: 'service-open <compartment>',
    summary: "a technician scans a service credential for the compartment (opens it in any state; priority audit)",
    schema: z.tuple([compartment]).transform(([id]) => ({ name: 'service-open' as const, compartmentId: id })),
  },
  'remote-open': {
    usage: 'remote-open <compartment>',
    summary: 'the backend sends a remote open over MQTT (POST /lockers/:id/commands) and waits for the reply',
    schema: z.tuple([compartment]).transform(([id]) => ({ name: 'remote-open' as const, compartmentId: id })),
  },
  notices: {
    usage: 'notices',
    summary: 'what customers received from the backend here (codes shown because this is a simulator)',
    schema: z.tuple([]).transform(() => ({ name: 'notices' as const })),
  },
  help: {
    usage: 'help',
    summary: 'this list',
    schema: z.tuple([]).transform(() => ({ name: 'help' as const })),
  },
  quit: {
    usage: 'quit',
    summary: 'stop the locker (relays off, database closed) and exit',
    schema: z.tuple([]).transform(() => ({ name: 'quit' as const })),
  },
};

const aliases: Readonly<Record<string, Command['name']>> = { exit: 'quit', '?': 'help', type: 'keys', pull: 'open', sleep: 'wait', 'power': 'power-cut', retrieval: 'retrieve' };

function isCommandName(name: string): name is Command['name'] {
  return Object.hasOwn(commandSpecs, name);
}

/** Parses one console line. Blank lines and '#' comments parse to no command. */
export function parseCommand(line: string): ParseResult {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return { ok: true, command: undefined };
  const [first = '', ...rest] = trimmed.split(/\s+/);
  const word = first.toLowerCase();
  const name = aliases[word] ?? word;
  if (!isCommandName(name)) return { ok: false, error: `unknown command '${first}' (type 'help' for the list)` };
  const spec = commandSpecs[name];
  // A scan may contain spaces: it takes the rest of the line as it was typed.
  const args = name === 'scan' ? (rest.length === 0 ? [] : [trimmed.slice(first.length).trim()]) : rest;
  const result = spec.schema.safeParse(args);
  if (result.success) return { ok: true, command: result.data };
  return { ok: false, error: `${describeIssues(result.error)} — usage: ${spec.usage}` };
}

function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid arguments';
  if ((issue.code === 'too_big' || issue.code === 'too_small') && issue.origin === 'array') return 'wrong number of arguments';
  const where = issue.path.length === 0 ? '' : `argument ${String(Number(issue.path[0]) + 1)}: `;
  return `${where}${issue.message}`;
}

/** The help text, one command per line. */
export function helpText(): string {
  const specs = Object.values(commandSpecs);
  const width = Math.max(...specs.map((s) => s.usage.length));
  return specs.map((s) => `  ${s.usage.padEnd(width)}  ${s.summary}`).join('\n');
}
