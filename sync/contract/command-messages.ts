import { z } from 'zod';
import { CompartmentId, LockerId } from './tokens/claims.js';
import { EpochMs, TransactionId, envelopeOf } from './envelope.js';
import { CodeSetStateWire, DbEpoch, DeviceHealthWire } from './shared-schemas.js';

// Commands (backend → locker) and their replies. A command executes at most once per
// transaction id, whatever the network repeats: the locker records it before any side
// effect and stores the reply before publishing it (sync/agent/device-sync-port.ts beginCommand /
// completeCommand), and answers a repeat with the stored reply.

export const Command = z.discriminatedUnion('kind', [
  /** Support opens one compartment for a customer on the phone. Never pulsed twice. */
  z.object({ kind: z.literal('remote-open'), compartmentId: CompartmentId, reason: z.string().min(1).max(120) }),
  /** Ask the backend for a full snapshot of the code set (the locker sends a snapshot request). */
  z.object({ kind: z.literal('resync') }),
  /** Publish a health message now and return it in the reply. */
  z.object({ kind: z.literal('report-health') }),
  /**
   * An operator takes a compartment out of service, or returns it to service after a
   * repair (failure count cleared; 'occupied', not 'free', while a live parcel is inside).
   */
  z.object({ kind: z.literal('set-compartment-service'), compartmentId: CompartmentId, inService: z.boolean(), reason: z.string().min(1).max(120) }),
]);
export type Command = z.infer<typeof Command>;
export type CommandKind = Command['kind'];
export const commandKinds = ['remote-open', 'resync', 'report-health', 'set-compartment-service'] as const satisfies readonly CommandKind[];

/**
 * Longest a command may be valid: a signed order to open a door must not live for long,
 * since anyone who captured it from the broker could publish it again until it expires.
 * The API caps ttlMs at this value and the locker refuses a seal whose exp - iat exceeds it.
 */
export const MAX_COMMAND_LIFETIME_MS = 5 * 60 * 1000;

/** Seal claims (typ 'command'). The transaction id is inside the signature. */
export const CommandClaims = z
  .object({
    typ: z.literal('command'),
    lockerId: LockerId,
    transactionId: TransactionId,
    /** The database epoch the command is for: a locker whose database has another epoch refuses it. */
    dbEpoch: DbEpoch,
    iat: EpochMs,
    /** Epoch ms after which the locker refuses to execute it (judged on the locker's trusted clock). */
    exp: EpochMs,
    command: Command,
  })
  .refine((c) => c.exp > c.iat && c.exp - c.iat <= MAX_COMMAND_LIFETIME_MS, { message: 'exp must be after iat, within 5 minutes', path: ['exp'] });
export type CommandClaims = z.infer<typeof CommandClaims>;

/** lockers/{id}/cmd. `transactionId` is repeated outside the seal for routing; they must agree. */
export const CommandMessage = z.object({
  ...envelopeOf('command'),
  transactionId: TransactionId,
  seal: z.string().min(1).max(2048),
});
export type CommandMessage = z.infer<typeof CommandMessage>;

export const remoteOpenOutcomes = ['opened', 'already-open', 'jammed', 'unknown-compartment', 'out-of-service', 'busy', 'unknown'] as const;

export const compartmentServiceOutcomes = ['changed', 'unchanged', 'unknown-compartment'] as const;
export const compartmentServiceStatuses = ['free', 'occupied', 'out-of-service'] as const;

export const CommandResult = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('remote-open'), outcome: z.enum(remoteOpenOutcomes) }),
  z.object({ kind: z.literal('resync'), state: CodeSetStateWire }),
  z.object({ kind: z.literal('report-health'), health: DeviceHealthWire }),
  z.object({ kind: z.literal('set-compartment-service'), outcome: z.enum(compartmentServiceOutcomes), status: z.enum(compartmentServiceStatuses).optional() }),
]);
export type CommandResult = z.infer<typeof CommandResult>;

/**
 * ok        executed; `result` says what happened (a remote open may be ok + 'jammed')
 * rejected  not executed: expired, unsupported, invalid for this locker
 * failed    began but the device reported an error, or could not even be recorded as
 *           begun (reason 'DB_WRITE_FAILED: …', nothing executed); nothing was retried
 * unknown   began before a crash and never completed: the outcome is unknown, and the
 *           locker will never execute it again (a door is never pulsed twice)
 */
export const commandStatuses = ['ok', 'rejected', 'failed', 'unknown'] as const;

/** lockers/{id}/cmd/reply. Re-sent verbatim (same id) when the command is repeated. */
export const CommandReplyMessage = z.object({
  ...envelopeOf('command-reply'),
  transactionId: TransactionId,
  kind: z.string().max(32),
  status: z.enum(commandStatuses),
  result: CommandResult.optional(),
  reason: z.string().max(200).optional(),
  /** Locker's trusted time when the reply was made. */
  at: EpochMs,
});
export type CommandReplyMessage = z.infer<typeof CommandReplyMessage>;
