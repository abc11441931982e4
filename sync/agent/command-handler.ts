import type { z } from 'zod';
import { openSeal } from '@locker/contract/backend-seal.js';
import type { CommandReplyMessage} from '@locker/contract/command-messages.js';
import { CommandClaims, type CommandResult } from '@locker/contract/command-messages.js';
import { decodeMessage, encodeMessage } from '@locker/contract/decode-message.js';
import { newEnvelope } from '@locker/contract/envelope.js';
import { MAX_UNRECORDED_REFUSALS, UNRECORDED_REASON, type UnrecordedRefusal } from './command-refusals.js';
import { opt } from './optional-field.js';
import { reportedHealth } from './presence.js';
import { errorCodeOf, isStorageRefusal, observeSignedTime } from './storage-refusal.js';
import type { SyncContext } from './sync-context.js';

// lockers/{id}/cmd. At most once per transaction id, durably:
//   1. verify the seal (trusted key, this locker, typ 'command', exp - iat within
//      MAX_COMMAND_LIFETIME_MS), that the transaction id outside the seal is the one inside
//      it, and that it names this database's epoch (docs/decisions/0023);
//   2. a stored reply for the transaction → publish it again, do nothing else;
//   3. beginCommand (committed) BEFORE any side effect;
//   4. execute (or refuse an expired command), completeCommand with the reply, THEN publish.
// A command begun before a crash and never completed is answered 'unknown' at start and is
// never executed again: a door is not pulsed twice on the strength of a retry.
// A command that ran but whose reply the device could not store (a full disk) is answered
// all the same: the door did what it did, and support must see it, not a command pending
// until it expires. The reply is kept in memory, re-sent on repeats and stored at the next
// chance (the agent's next tick that finds room, a repeat, a session start); only a
// restart before then loses it, and the command is then answered 'unknown' like any other
// cut short (the backend keeps the first reply).
// A command that arrives while the disk is already full cannot be begun (3. is refused):
// it is NOT executed (a crash during it would leave no trace, and a retry could pulse a
// door twice) and is answered at once 'failed' with reason DB_WRITE_FAILED, as a remote open
// whose journal the disk refuses is, instead of a session restart and a command pending
// until it expires (one already past its `exp` is rejected 'expired' instead, as it would be
// once begun). A repeat of that transaction id, even once space is back, gets the same
// reply and is not executed either: the backend keeps the first reply of a transaction
// (later ones are dropped) and stops re-publishing once it has one, so a door opened on a
// repeat would show as 'failed' to support, and a technician who saw 'failed' and sent a
// new command would open it twice. Repeats of the same id come from copies already under
// way (re-publishes, a broker's queue, a captured message), never from support, whose retry
// is a new transaction and runs normally. The refusal is kept in memory (until `exp`, after
// which a copy is refused as expired anyway) and recorded (begun and completed with that
// reply) at the first chance, so a restart within the command's lifetime still refuses it.

type Status = z.infer<typeof CommandReplyMessage>['status'];

export interface CommandEffects {
  requestSnapshot(): void;
  publishHealth(): void;
  /**
   * Runs the rest of a command after it was durably begun, outside the inbound pipeline: a
   * remote open can take seconds (door supervision), and acks and batches must not wait
   * behind it. Failures go to the agent's error boundary.
   */
  background(task: Promise<void>): void;
  /**
   * Publishes the reply of a command that finished: through the agent's session as it is
   * then, since a command can outlive the session it arrived on (the agent restarted it).
   */
  publishReply(json: string): void;
}

export class CommandHandler {
  /** Replies made while disconnected (crash recovery at start), published on connect. */
  private readonly pending: string[] = [];

  constructor(
    private readonly ctx: SyncContext,
    private readonly effects: CommandEffects,
    /**
     * Commands executing in this process. Owned by the agent and shared by the handlers of
     * its successive sessions: a remote open begun before a session restart is still
     * running, not cut short by a crash, and its real outcome is still to come.
     */
    private readonly running: Set<string> = new Set(),
    /** Replies published but not stored (the device refused the write), by transaction id; shared like `running`. */
    private readonly unstored: Map<string, string> = new Map(),
    /** Commands refused because their begin could not be recorded, by transaction id; shared like `running`. */
    private readonly refused: Map<string, UnrecordedRefusal> = new Map(),
  ) {}

  /** At start: every command cut short by a crash gets its 'unknown' reply stored now. */
  recoverUnfinished(): void {
    for (const c of this.ctx.port.unfinishedCommands()) {
      if (this.running.has(c.transactionId)) continue;
      // Answered already: its real reply is stored now, never turned into 'unknown'.
      if (this.unstored.has(c.transactionId)) {
        this.storeAnswered(c.transactionId);
        continue;
      }
      let json: string;
      try {
        json = this.reply(c.transactionId, c.kind, 'unknown', undefined, 'interrupted by a restart; not repeated');
      } catch (err) {
        // A row no verified command could have left (a damaged or hand-edited database, an
        // id the wire refuses): nothing to answer it with. Thrown, it would fail every
        // session start, leaving the locker offline for good; logged at each start instead.
        this.ctx.logger.error({ err, transactionId: c.transactionId, kind: c.kind, startedAt: c.startedAt }, 'command.unknown-unanswerable');
        continue;
      }
      const log = this.ctx.logger.child({ transactionId: c.transactionId, kind: c.kind });
      // A disk still full after the restart refuses these writes: answered all the same, the
      // reply kept like any other the device refused (finish). Thrown, it would stop the
      // session from ever starting while the disk is full: no health report telling the
      // backend so, no answer to any command.
      this.finish(c.transactionId, json, log, () => {
        this.ctx.port.appendAudit('sync.command-unknown', 'priority', { transactionId: c.transactionId, kind: c.kind, startedAt: c.startedAt });
      }, (reply) => this.pending.push(reply));
      log.warn('command.unknown-after-restart');
    }
  }

  flushPending(): void {
    for (const json of this.pending.splice(0)) this.ctx.publishStored('cmd/reply', json);
  }

  handle(topic: string, payload: Buffer): void {
    const { ctx } = this;
    const decoded = decodeMessage('cmd', payload);
    if (!decoded.ok) {
      ctx.rejections.report({ topic, reason: decoded.reason, securityRelevant: false, ...opt('detail', decoded.detail), ...opt('messageId', decoded.id) });
      return;
    }
    const msg = decoded.message;
    const seal = openSeal(ctx.ed, ctx.keys(), msg.seal, ctx.lockerId, CommandClaims, ctx.now());
    if (!seal.ok) {
      ctx.rejections.report({ topic, reason: seal.reason, securityRelevant: true, messageId: msg.id, transactionId: msg.transactionId, ...opt('detail', seal.detail) });
      return;
    }
    const claims = seal.claims;
    if (claims.transactionId !== msg.transactionId) {
      ctx.rejections.report({ topic, reason: 'transaction-mismatch', securityRelevant: true, messageId: msg.id, transactionId: msg.transactionId });
      return;
    }
    if (claims.dbEpoch !== ctx.port.dbEpoch) {
      // Issued to another database of this locker (typically the one an operator moved
      // aside): this database has no record of having executed it, so only the epoch stops
      // a captured command from running twice. Refused before anything is recorded.
      ctx.rejections.report({ topic, reason: 'command-wrong-epoch', securityRelevant: true, messageId: msg.id, transactionId: msg.transactionId, detail: `command for epoch ${claims.dbEpoch}` });
      ctx.publishStored('cmd/reply', this.reply(claims.transactionId, claims.command.kind, 'rejected', undefined, 'issued to another database epoch'));
      return;
    }
    observeSignedTime(ctx, claims.iat, 'command');
    const txid = claims.transactionId;
    const kind = claims.command.kind;
    const log = ctx.logger.child({ transactionId: txid, kind, messageId: msg.id });

    const stored = ctx.port.findCommandReply(txid);
    if (stored !== undefined) {
      if (stored.replyJson !== undefined) {
        log.info('command.duplicate-replayed');
        ctx.publishStored('cmd/reply', stored.replyJson);
        return;
      }
      const answered = this.unstored.get(txid);
      if (answered !== undefined) {
        log.info({ stored: false }, 'command.duplicate-replayed');
        this.storeAnswered(txid);
        ctx.publishStored('cmd/reply', answered);
        return;
      }
      // Begun in this process and still running: its reply will go out when it finishes.
      log.info({ running: this.running.has(txid) }, 'command.duplicate-in-progress');
      return;
    }

    const refusal = this.refused.get(txid);
    if (refusal !== undefined) {
      // Refused unrecorded earlier: the same reply, never executed (see the top of the file).
      log.info({ recorded: false }, 'command.duplicate-replayed');
      this.recordRefusal(txid);
      ctx.publishStored('cmd/reply', refusal.json);
      return;
    }

    // Durable before the PUBACK and before any side effect: from here a repeat is answered
    // from the command log, and a crash leaves a trace that becomes an 'unknown' reply.
    try {
      ctx.port.beginCommand(txid, kind, claims.exp);
    } catch (err) {
      const code = errorCodeOf(err);
      if (!isStorageRefusal(code)) throw err;
      if (ctx.now() > claims.exp) {
        // Past its expiry, it would be refused as expired once begun: refused so now, and
        // reported like any expired command. Nothing to keep: every copy is expired too.
        ctx.rejections.report({ topic, reason: 'command-expired', securityRelevant: true, messageId: msg.id, transactionId: txid });
        log.warn({ err, errorCode: 'DB_WRITE_FAILED', storageCode: code, expiresAt: claims.exp }, 'command.expired-unrecorded');
        ctx.publishStored('cmd/reply', this.reply(txid, kind, 'rejected', undefined, 'expired'));
        return;
      }
      // Nothing recorded: not executed, answered now. Not thrown: the session would restart
      // (the PUBACK racing its close, the broker redelivering) and the backend get no reply.
      const json = this.reply(txid, kind, 'failed', undefined, UNRECORDED_REASON);
      this.keepRefusal(txid, { kind, expiresAt: claims.exp, json });
      log.error({ err, errorCode: 'DB_WRITE_FAILED', storageCode: code, expiresAt: claims.exp, executed: false }, 'command.refused-unrecorded');
      ctx.publishStored('cmd/reply', json);
      return;
    }
    this.running.add(txid);
    if (ctx.now() > claims.exp) {
      ctx.rejections.report({ topic, reason: 'command-expired', securityRelevant: true, messageId: msg.id, transactionId: txid });
      this.finish(txid, this.reply(txid, kind, 'rejected', undefined, 'expired'), log);
      return;
    }
    this.effects.background(this.run(claims.command, txid, log));
  }

  private async run(command: CommandClaims['command'], txid: string, log: SyncContext['logger']): Promise<void> {
    try {
      const { status, result, reason } = await this.execute(command, txid);
      const json = this.reply(txid, command.kind, status, result, reason);
      const securityRelevant = command.kind === 'remote-open' || command.kind === 'set-compartment-service';
      this.finish(txid, json, log, () => {
        this.ctx.port.appendAudit('sync.command', securityRelevant ? 'priority' : 'normal', {
          transactionId: txid, kind: command.kind, status,
          ...(result?.kind === 'remote-open' || result?.kind === 'set-compartment-service' ? { outcome: result.outcome } : {}),
        });
      });
    } finally {
      this.running.delete(txid);
    }
  }

  /**
   * Records the command (`audit`, then the reply), THEN publishes the reply. A record the
   * device refuses does not hold the reply back: the command has run (it is never run
   * again, its begin is durable), so what it did is sent, and the reply kept in memory.
   */
  private finish(txid: string, json: string, log: SyncContext['logger'], audit?: () => void, publish: (json: string) => void = (j) => this.effects.publishReply(j)): void {
    try {
      let failure: unknown;
      try {
        audit?.();
      } catch (err) {
        failure = err;
      }
      try {
        this.ctx.port.completeCommand(txid, json);
      } catch (err) {
        failure ??= err;
        this.unstored.set(txid, json);
      }
      if (failure !== undefined) log.error({ err: failure, errorCode: errorCodeOf(failure), replyStored: !this.unstored.has(txid) }, 'command.record-failed');
    } finally {
      this.running.delete(txid);
    }
    log.info('command.completed');
    publish(json);
  }

  /**
   * From the agent's tick: stores the replies the device refused earlier. The backend that
   * got a reply sends no repeat and the session may never restart, so without this a reply
   * would stay in memory for good, and a restart would answer (and audit) 'unknown' for a
   * command whose outcome was sent. Then records the commands refused unrecorded, and
   * forgets those expired. Stops at the first refusal (the disk is still full:
   * the rest would fail too) and logs it at debug only: the tick runs every poll interval.
   */
  storeUnstored(): void {
    this.forgetExpiredRefusals();
    for (const txid of [...this.unstored.keys()]) {
      if (!this.storeAnswered(txid, 'debug')) return;
    }
    for (const txid of [...this.refused.keys()]) {
      if (!this.recordRefusal(txid, 'debug')) return;
    }
  }

  private keepRefusal(txid: string, refusal: UnrecordedRefusal): void {
    this.forgetExpiredRefusals();
    const oldest = this.refused.size >= MAX_UNRECORDED_REFUSALS ? this.refused.keys().next().value : undefined;
    if (oldest !== undefined) {
      this.refused.delete(oldest);
      this.ctx.logger.warn({ transactionId: oldest, max: MAX_UNRECORDED_REFUSALS }, 'command.refusal-dropped');
    }
    this.refused.set(txid, refusal);
  }

  /**
   * A refusal past its command's `exp` is no longer needed: a copy arriving now is begun
   * and refused as expired (unrecorded while the disk is full), never run.
   */
  private forgetExpiredRefusals(): void {
    const now = this.ctx.now();
    for (const [txid, r] of this.refused) {
      if (now <= r.expiresAt) continue;
      this.refused.delete(txid);
      this.ctx.logger.info({ transactionId: txid, kind: r.kind, expiresAt: r.expiresAt }, 'command.refusal-expired-unrecorded');
    }
  }

  /**
   * Records a refusal: begun and completed with the reply that was sent, so a repeat after
   * a restart gets it from the command log. True when the begin is written (its reply then
   * stored, or kept like any reply the device refused).
   */
  private recordRefusal(txid: string, refusedLevel: 'warn' | 'debug' = 'warn'): boolean {
    const r = this.refused.get(txid);
    if (r === undefined) return true;
    try {
      this.ctx.port.beginCommand(txid, r.kind, r.expiresAt);
    } catch (err) {
      this.ctx.logger[refusedLevel]({ transactionId: txid, err, errorCode: errorCodeOf(err) }, 'command.refusal-still-unrecorded');
      return false;
    }
    this.refused.delete(txid);
    this.unstored.set(txid, r.json);
    this.ctx.logger.info({ transactionId: txid, kind: r.kind }, 'command.refusal-recorded');
    return this.storeAnswered(txid, refusedLevel);
  }

  /** Stores a reply published earlier without being stored; kept in memory while the device still refuses. True when stored. */
  private storeAnswered(txid: string, refusedLevel: 'warn' | 'debug' = 'warn'): boolean {
    const json = this.unstored.get(txid);
    if (json === undefined) return true;
    try {
      this.ctx.port.completeCommand(txid, json);
      this.unstored.delete(txid);
      this.ctx.logger.info({ transactionId: txid }, 'command.reply-stored-late');
      return true;
    } catch (err) {
      this.ctx.logger[refusedLevel]({ transactionId: txid, err, errorCode: errorCodeOf(err) }, 'command.reply-still-unstored');
      return false;
    }
  }

  private async execute(command: CommandClaims['command'], txid: string): Promise<{ status: Status; result?: CommandResult; reason?: string }> {
    const { port } = this.ctx;
    switch (command.kind) {
      case 'remote-open':
        try {
          const r = await port.remoteOpen(txid, command.compartmentId, command.reason);
          // The device could not learn whether the door opened (an earlier attempt died with
          // the process, or the sensor cannot tell): the command's outcome is unknown.
          if (r.outcome === 'unknown') return { status: 'unknown', result: { kind: 'remote-open', outcome: 'unknown' }, reason: 'door outcome unknown; not repeated' };
          return { status: 'ok', result: { kind: 'remote-open', outcome: r.outcome } };
        } catch (err) {
          const code = errorCodeOf(err);
          this.ctx.logger.error({ err, transactionId: txid, errorCode: code }, 'command.remote-open-failed');
          // The port's contract: DB_WRITE_FAILED means nothing was pulsed (device-sync-port.ts).
          if (code === 'DB_WRITE_FAILED') return { status: 'failed', reason: 'DB_WRITE_FAILED: locker storage full or failing, temporarily unavailable; nothing opened, not retried' };
          return { status: 'failed', reason: `${code ?? 'INTERNAL'}: device error during remote open; not retried` };
        }
      case 'resync':
        this.effects.requestSnapshot();
        return { status: 'ok', result: { kind: 'resync', state: port.codeSetState() } };
      case 'report-health':
        this.effects.publishHealth();
        return { status: 'ok', result: { kind: 'report-health', health: reportedHealth(port, this.ctx.rejections) } };
      case 'set-compartment-service':
        try {
          const r = port.setCompartmentService(txid, command.compartmentId, command.inService, command.reason);
          return { status: 'ok', result: { kind: 'set-compartment-service', outcome: r.outcome, ...(r.outcome === 'unknown-compartment' ? {} : { status: r.status }) } };
        } catch (err) {
          this.ctx.logger.error({ err, transactionId: txid }, 'command.set-compartment-service-failed');
          return { status: 'failed', reason: 'device error while changing the service state; not retried' };
        }
    }
  }

  private reply(transactionId: string, kind: string, status: Status, result: CommandResult | undefined, reason: string | undefined): string {
    const now = this.ctx.now();
    const message = {
      ...newEnvelope('command-reply', now),
      transactionId,
      kind,
      status,
      at: Math.floor(now),
      ...opt('result', result),
      ...opt('reason', reason),
    };
    return encodeMessage('cmd/reply', message).toString('utf8');
  }
}
