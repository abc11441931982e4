import { Command, encodeMessage, publishOptionsFor, topicFor, type CommandReplyMessage } from '../shared/contract.js';
import type { KeyStore } from '../keys/key-store.js';
import type { Clock } from '../shared/clock.js';
import { notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { CommandRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { Publisher } from './locker-bridge.js';

// Signed commands to lockers (support remote open, resync, health report). Stored first,
// then published, and re-published with backoff until the locker's reply arrives or the
// command expires: the locker executes a transaction id at most once and answers repeats
// with its stored reply, so retrying is safe — a door is never pulsed twice.

export interface CommandServiceOptions {
  store: Store;
  keys: KeyStore;
  clock: Clock;
  logger: Logger;
  retryMs?: number;
}

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
    const { store, clock } = this.o;
    if (store.lockers.get(lockerId) === undefined) throw notFound('locker', lockerId);
    if (command.kind === 'remote-open' && store.lockers.compartment(lockerId, command.compartmentId) === undefined) {
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
    };
    store.commands.insert(record);
    this.log.info({ lockerId, transactionId: record.transactionId, kind: command.kind, actor }, 'command.created');
    await this.publishDue();
    return this.get(record.transactionId);
  }

  get(transactionId: string): CommandRecord {
    const c = this.o.store.commands.get(transactionId);
    if (c === undefined) throw notFound('command', transactionId);
    return c;
  }

  /** Publishes every pending command that is due; run after send and by the sweeper. */
  async publishDue(): Promise<number> {
    const { store, clock, keys } = this.o;
    const now = clock.now();
    store.commands.expire(now);
    let sent = 0;
    for (const c of store.commands.due(now, 100)) {
      const parsed = Command.safeParse(c.command);
      if (!parsed.success) continue;
      const set = store.codeSets.ensure(c.lockerId);
      const message = keys.sealSignerFor(set.trustedKids).command(c.lockerId, c.transactionId, parsed.data, c.expiresAt - now);
      store.commands.markAttempt(c.transactionId, c.attempts + 1, now + Math.min(300_000, this.retryMs * 2 ** c.attempts));
      if (this.publisher === undefined) continue;
      try {
        await this.publisher.publish(topicFor(c.lockerId, 'cmd'), encodeMessage('cmd', message), publishOptionsFor('cmd'));
        sent++;
      } catch (err) {
        this.log.warn({ lockerId: c.lockerId, transactionId: c.transactionId, err: err instanceof Error ? err.message : String(err) }, 'command.publish_failed');
      }
    }
    return sent;
  }

  onReply(lockerId: string, m: CommandReplyMessage): void {
    const c = this.o.store.commands.get(m.transactionId);
    if (c?.lockerId !== lockerId) {
      this.log.warn({ lockerId, transactionId: m.transactionId }, 'command.reply_unknown');
      return;
    }
    const reply: Record<string, unknown> = { status: m.status, kind: m.kind, at: m.at };
    if (m.result !== undefined) reply['result'] = m.result;
    if (m.reason !== undefined) reply['reason'] = m.reason;
    if (this.o.store.commands.reply(m.transactionId, reply, this.o.clock.now())) {
      this.log.info({ lockerId, transactionId: m.transactionId, status: m.status }, 'command.replied');
    }
  }
}

