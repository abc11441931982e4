// Commands answered 'failed' because the device could not record their begin (a full disk):
// never executed, their reply kept so a repeat gets it again, and recorded (begun, completed
// with that reply) at the first write the device accepts. See command-handler.ts for why a
// repeat is not executed once space is back.

/** A command refused unrecorded, by transaction id (in CommandHandler's map). */
export interface UnrecordedRefusal {
  kind: string;
  /** The command's `exp`: after it a repeat is refused as expired anyway, so the entry goes. */
  expiresAt: number;
  /** The reply sent, re-sent verbatim (same message id) to repeats. */
  json: string;
}

/**
 * Refusals kept at most. Commands live 5 minutes at most (MAX_COMMAND_LIFETIME_MS) and a
 * backend sends a handful: far above that, so only a flood of signed commands during an
 * outage reaches it; the oldest goes first (logged).
 */
export const MAX_UNRECORDED_REFUSALS = 1000;

export const UNRECORDED_REASON = 'DB_WRITE_FAILED: locker storage full or failing, could not record the command; nothing executed, not retried (send a new command)';
