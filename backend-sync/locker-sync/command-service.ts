import { Command, MAX_COMMAND_LIFETIME_MS, encodeMessage, publishOptionsFor, topicFor, type BackendSigner, type CommandReplyMessage } from '../shared/contract.js';
import type { KeyStore } from '../keys/key-store.js';
import type { Clock } from '../shared/clock.js';
import { BackendError, notFound } from '../shared/errors.js';
import { idempotent, type IdempotencyKeyArg, type IdempotentResult } from '../shared/idempotency.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { CommandRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { CommandView, commandView } from './command-view.js';
import type { Publisher } from './locker-bridge.js';
import { MqttUnconfirmedError } from './mqtt-transport.js';

// Signed commands to lockers (support remote open, resync, health report). Stored first,
// then published, and re-published with backoff until the locker's reply arrives or the
// command expires: the locker executes a transaction id at most once and answers repeats
// with its stored reply, so retrying is safe — a door is never pulsed twice.
// A command is bound at creation to the locker's database epoch (docs/decisions/0023), the
// one its retained presence announced: re-published, it still names that epoch, so a
// locker whose database was replaced in between refuses it. It lives at most
// MAX_COMMAND_LIFETIME_MS (5 minutes): a captured command is worthless soon after.
// With several instances, each due command is leased to the instance that publishes it.

/**
 * How long a claimed command is ours to publish. Far longer than signing and one PUBACK
 * take (the attempt that follows clears the lease), even for a group claimed at the end of
 * a pass's budget (leases count from the pass's start); short enough that a command claimed
 * by an instance that died is retried well within its lifetime.
 */
const PUBLISH_LEASE_MS = 30_000;

/** Commands one pass publishes at most; the rest wait for the next. */
const PASS_LIMIT = 100;

/**
 * Commands claimed and published together. Claimed in small groups, not 100 at once: a
 * pass that stops early leaves the rest unclaimed (due for the next pass or another
 * instance, not leased for 30 s), and a group's publishes wait for their PUBACKs together,
 * not one round trip (or one publish timeout) after another.
 */
const PUBLISH_CONCURRENCY = 8;

/**
 * A pass claims no further group after this long. The transport bounds each publish
 * (publishTimeoutMs, 10 s) but a broker acknowledging slowly, not quite that slowly, would
 * still make 100 due commands cost minutes of the sweeper's pass (hold expiry, outbox,
 * refunds, tracking wait behind it) or of the POST that sent one.
 */
const PASS_BUDGET_MS = 5_000;

/** Idempotency keys of sent commands live in their own scope. */
const SCOPE = 'locker-command';

export interface CommandServiceOptions {
  store: Store;
  keys: KeyStore;
  clock: Clock;
  logger: Logger;
  retryMs?: number;
  /** Wall-clock time after which a pass claims no more commands (default PASS_BUDGET_MS). */
  passBudgetMs?: number;
}

/** 'unconfirmed': the transport could not get the broker's PUBACK (offline, timed out, stopping): so would every further publish. */
type Outcome = 'sent' | 'failed' | 'unconfirmed';

export class CommandService {
  private publisher: Publisher | undefined;
  private readonly log: Logger;
  private readonly retryMs: number;

  constructor(private readonly o: CommandServiceOptions) {
    this.log = o.logger.child({ component: 'commands' });
    this.retryMs = o.retryMs ?? 5_000;
  }

  attach(publisher: Publisher): void {
    this.publisher = publisher;
  }

  async send(lockerId: string, command: Command, actor: string, ttlMs: number): Promise<CommandRecord> {
    const record = await this.create(lockerId, command, actor, ttlMs);
    await this.publishDue();
    return this.get(record.transactionId);
  }

  /**
   * send() under an Idempotency-Key: the command and the key's record commit together, so a
   * retry after a lost answer (a 503 on COMMIT) gets the first command's id back instead of
   * storing a second command, which would open a door again. The answer, first and
   * replayed, is the command as committed (pending, before its first publish).
   * The request hashed includes the locker: one key cannot be replayed to another locker.
   */
  async sendIdempotent(key: IdempotencyKeyArg, lockerId: string, command: Command, actor: string, ttlMs: number): Promise<IdempotentResult<CommandView>> {
    const { store, clock } = this.o;
    const result = await idempotent(store, SCOPE, key, { lockerId, command, ttlMs }, clock.now(), 202, CommandView, async () =>
      commandView(await this.create(lockerId, command, actor, ttlMs)),
    );
    // After the commit, never inside it: a command published from a unit that then rolled
    // back would reach the locker with no record of it here.
    if (!result.replayed) await this.publishDue();
    return result;
  }

  private async create(lockerId: string, command: Command, actor: string, ttlMs: number): Promise<CommandRecord> {
    const { store, clock, keys } = this.o;
    if ((await store.lockers.gate(lockerId)) === undefined) throw notFound('locker', lockerId);
    // Before the insert: a command stored by an instance that cannot sign would still go out
    // (another instance publishes it) while the caller, told 503, sends it again.
    keys.assertSigningAvailable();
    if (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_COMMAND_LIFETIME_MS) {
      throw new BackendError('BUSINESS_RULE', 'command lifetime out of range', { ttlMs, maxTtlMs: MAX_COMMAND_LIFETIME_MS });
    }
    const dbEpoch = await store.audit.currentEpoch(lockerId);
    if (dbEpoch === undefined) {
      // Nothing to bind the command to: the locker has never announced its database.
      throw new BackendError('CONFLICT', 'locker has not announced its database epoch yet (never online)', { lockerId });
    }
    if (command.kind === 'remote-open' && (await store.lockers.compartment(lockerId, command.compartmentId)) === undefined) {
      throw notFound('compartment', command.compartmentId);
    }
    const now = clock.now();
    const record: CommandRecord = {
      transactionId: newId('txn'),
      lockerId,
      command: Command.parse(command),
      state: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      expiresAt: now + ttlMs,
      actor,
      createdAt: now,
      dbEpoch,
    };
    await store.commands.insert(record);
    this.log.info({ lockerId, transactionId: record.transactionId, kind: command.kind, actor, dbEpoch }, 'command.created');
    return record;
  }

  async get(transactionId: string): Promise<CommandRecord> {
    const c = await this.o.store.commands.get(transactionId);
    if (c === undefined) throw notFound('command', transactionId);
    return c;
  }

  /** One command of one locker (GET /lockers/{id}/commands/{txn}): another locker's is not found there. */
  async ofLocker(lockerId: string, transactionId: string): Promise<CommandRecord> {
    const c = await this.o.store.commands.get(transactionId);
    if (c === undefined || c.lockerId !== lockerId) throw notFound('command', transactionId);
    return c;
  }

  /**
   * Publishes the pending commands that are due, up to PASS_LIMIT; run after send and by
   * the sweeper. Bounded in time whatever is due: a group of PUBLISH_CONCURRENCY at a time,
   * no new group after passBudgetMs, and none after a publish the broker did not acknowledge
   * (connected but not answering: every further publish would wait as long; offline: every
   * further one would only be queued in mqtt.js). So a
   * pass costs at most the budget plus one publish timeout; what it did not claim is still
   * due, first in line next pass. Attempts, backoff and expiry are as for one at a time.
   */
  async publishDue(): Promise<number> {
    const { store, clock, keys } = this.o;
    const now = clock.now();
    await store.commands.expire(now);
    // Claiming leases commands for 30 s: an instance that cannot sign would hold them back
    // from the instances that can (KeyStore.followRevocations).
    if (!keys.signingAvailable) return 0;
    // Real time, not the injected clock: this bounds how long the pass waits on the broker.
    const started = performance.now();
    let sent = 0;
    for (let taken = 0; taken < PASS_LIMIT; ) {
      const group = await store.commands.claimDue(now, PUBLISH_LEASE_MS, Math.min(PUBLISH_CONCURRENCY, PASS_LIMIT - taken));
      if (group.length === 0) break;
      taken += group.length;
      // Prepared (signed, attempt recorded) one by one, then published in due order, the
      // PUBACKs awaited together.
      const ready: Array<{ c: CommandRecord; message: ReturnType<BackendSigner['command']> }> = [];
      for (const c of group) {
        const message = await this.prepare(c, now);
        if (message !== undefined) ready.push({ c, message });
      }
      const outcomes = await Promise.all(ready.map(({ c, message }) => this.publishOne(c, message)));
      sent += outcomes.filter((o) => o === 'sent').length;
      // Not only a timeout: offline the transport rejects at once but mqtt.js still queues
      // each message in memory for the next connection, so going on would queue every due
      // command (an attempt and its backoff spent on each) once per pass of the outage.
      if (outcomes.includes('unconfirmed')) {
        this.log.warn({ claimed: taken }, 'command.publish_pass_stopped');
        break;
      }
      if (performance.now() - started >= (this.o.passBudgetMs ?? PASS_BUDGET_MS)) break;
    }
    return sent;
  }

  /** Signs the command and records the attempt; undefined when it cannot go out now (it waits out its lease). */
  private async prepare(c: CommandRecord, now: number): Promise<ReturnType<BackendSigner['command']> | undefined> {
    const { store, keys } = this.o;
    const parsed = Command.safeParse(c.command);
    if (!parsed.success || c.dbEpoch === undefined) return undefined;
    try {
      // get, not ensure: only the trusted kids are read, and the set's row lock is not needed.
      const set = await store.codeSets.get(c.lockerId);
      const message = (await keys.sealSignerFor(set?.trustedKids ?? [])).command(c.lockerId, c.dbEpoch, c.transactionId, parsed.data, c.expiresAt - now);
      await store.commands.markAttempt(c.transactionId, c.attempts + 1, now + Math.min(300_000, this.retryMs * 2 ** c.attempts));
      return message;
    } catch (err) {
      // This one waits out its lease and is claimed again; the rest of the pass goes on.
      this.log.warn({ lockerId: c.lockerId, transactionId: c.transactionId, err: err instanceof Error ? err.message : String(err) }, 'command.prepare_failed');
      return undefined;
    }
  }

  private async publishOne(c: CommandRecord, message: ReturnType<BackendSigner['command']>): Promise<Outcome | undefined> {
    if (this.publisher === undefined) return undefined;
    try {
      await this.publisher.publish(topicFor(c.lockerId, 'cmd'), encodeMessage('cmd', message), publishOptionsFor('cmd'));
      return 'sent';
    } catch (err) {
      this.log.warn({ lockerId: c.lockerId, transactionId: c.transactionId, err: err instanceof Error ? err.message : String(err) }, 'command.publish_failed');
      return err instanceof MqttUnconfirmedError ? 'unconfirmed' : 'failed';
    }
  }

  async onReply(lockerId: string, m: CommandReplyMessage): Promise<void> {
    const c = await this.o.store.commands.get(m.transactionId);
    if (c?.lockerId !== lockerId) {
      this.log.warn({ lockerId, transactionId: m.transactionId }, 'command.reply_unknown');
      return;
    }
    const reply: Record<string, unknown> = { status: m.status, kind: m.kind, at: m.at };
    if (m.result !== undefined) reply['result'] = m.result;
    if (m.reason !== undefined) reply['reason'] = m.reason;
    if (await this.o.store.commands.reply(m.transactionId, reply, this.o.clock.now())) {
      this.log.info({ lockerId, transactionId: m.transactionId, status: m.status }, 'command.replied');
    }
  }
}

