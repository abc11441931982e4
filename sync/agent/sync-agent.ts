import { randomUUID } from 'node:crypto';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import type { Logger } from 'pino';
import type { DeviceSyncPort } from './device-sync-port.js';
import type { KeyResolver } from '@locker/contract/tokens/keyring.js';
import type { Clock, TimerHandle } from '@locker/hal/types.js';
import { MAX_BATCH_MESSAGE_BYTES } from '@locker/contract/catalog.js';
import { encodeMessage } from '@locker/contract/decode-message.js';
import { lockerInboundSuffixes, parseTopic, topicFor } from '@locker/contract/topics.js';
import { AuditUploader } from './audit-uploader.js';
import { backoffDelay } from './backoff.js';
import { BatchPayloadParser } from './batch-payload-parser.js';
import { CodeBatchHandler } from './code-batch-handler.js';
import { CommandHandler } from './command-handler.js';
import type { UnrecordedRefusal } from './command-refusals.js';
import { MqttSession } from './mqtt-session.js';
import { announcedKids, birthMessage, healthMessage, offlineMessage } from './presence.js';
import { RejectionReporter } from './rejection-reporter.js';
import { SyncAgentConfig, type SyncAgentConfigInput } from './sync-config.js';
import { makePublisher, makeStoredPublisher, type SyncContext } from './sync-context.js';
import { SyncError } from './sync-error.js';

// The device's sync agent: keeps one MQTT session to the broker and moves code batches in,
// audit records out and commands through, touching the device only via DeviceSyncPort.
//
// Error boundary: nothing the agent does may break the runtime it shares a process with.
// Every handler and timer runs inside guard(); an unexpected error (a database error, a
// bug) is logged and the agent restarts its session after a backoff. A restart is also
// the protocol's recovery path: the new birth message tells the backend the locker's
// version, so whatever was lost in the failure is re-sent. A write the device's storage
// refuses (a full disk) is not such an error: the handlers deal with it themselves
// (storage-refusal.ts), since a restart would only meet the same refusal again.

export interface SyncAgentDeps {
  port: DeviceSyncPort;
  /** mqtt:// or mqtts:// URL; username = locker id in production (see sync/mosquitto/locker.acl). */
  mqtt: { url: string; username?: string; password?: string; ca?: string | Buffer };
  ed: Ed25519;
  /** The backend keys this locker trusts now (changes when a batch carries keyring changes). */
  keys: () => KeyResolver;
  clock: Clock;
  logger: Logger;
  config: SyncAgentConfigInput;
  /** In [0, 1), for backoff jitter. */
  random?: () => number;
  /** Defaults to a fresh random id per construction (= per process start). */
  bootId?: string;
}

export interface SyncAgentStatus {
  running: boolean;
  connected: boolean;
  restarts: number;
  rejections: number;
  rejectionsByReason: Record<string, number>;
  auditRecordsSent: number;
}

export class SyncAgent {
  private config: SyncAgentConfig | undefined;
  private session: MqttSession | undefined;
  private ctx: SyncContext | undefined;
  private batches: CodeBatchHandler | undefined;
  private uploader: AuditUploader | undefined;
  private commands: CommandHandler | undefined;
  private rejections: RejectionReporter | undefined;
  /** The repeating timers (poll, health) of the current session, each re-armed on the clock. */
  private readonly timers = new Map<string, TimerHandle>();
  private restartTimer: TimerHandle | undefined;
  private restartAttempt = 0;
  private restarts = 0;
  private running = false;
  private lastPruneAt = Number.NEGATIVE_INFINITY;
  /** The kids the last birth message named (JSON), to re-publish it when a batch changes them. */
  private announcedKids: string | undefined;
  private readonly bootId: string;
  /** Parses large code batches off the event loop; lives across sessions, stopped with the agent. */
  private readonly payloadParser: BatchPayloadParser;
  /** Commands executing now; they may outlive the session they arrived on (command-handler.ts). */
  private readonly commandsRunning = new Set<string>();
  /** Replies sent but not yet stored (a full disk), kept across sessions like commandsRunning. */
  private readonly commandsUnstored = new Map<string, string>();
  /** Commands refused because the disk could not record them (command-refusals.ts), kept across sessions too. */
  private readonly commandsRefused = new Map<string, UnrecordedRefusal>();

  constructor(private readonly deps: SyncAgentDeps) {
    this.bootId = deps.bootId ?? randomUUID();
    this.payloadParser = new BatchPayloadParser(deps.logger.child({ component: 'batch-payload-parser' }));
  }

  /** Throws SyncError CONFIG_INVALID for a bad config; never throws for anything the network does. */
  start(): void {
    if (this.running) return;
    const parsed = SyncAgentConfig.safeParse(this.deps.config);
    if (!parsed.success) throw new SyncError('CONFIG_INVALID', 'sync agent config is invalid', { issues: parsed.error.issues.map((i) => i.path.join('.')) });
    this.config = parsed.data;
    this.running = true;
    this.payloadParser.start();
    this.guard('start', () => this.startSession());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.payloadParser.stop();
    if (this.restartTimer !== undefined) this.deps.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.stopSession(true);
  }

  status(): SyncAgentStatus {
    return {
      running: this.running,
      connected: this.session?.connected ?? false,
      restarts: this.restarts,
      rejections: this.rejections?.count ?? 0,
      rejectionsByReason: this.rejections?.counts() ?? {},
      auditRecordsSent: this.uploader?.sent ?? 0,
    };
  }

  private get log(): Logger {
    return this.deps.logger;
  }

  private startSession(): void {
    const config = this.requireConfig();
    const { port, ed, keys, clock } = this.deps;
    const lockerId = port.lockerId;
    const logger = this.deps.logger.child({ component: 'sync-agent', lockerId, bootId: this.bootId });
    this.rejections ??= new RejectionReporter(port, logger.child({ component: 'sync-rejections' }), config.rejectionAuditPerMinute, () => clock.monotonicMs());
    const session = new MqttSession({
      url: this.deps.mqtt.url,
      clientId: lockerId,
      ...(this.deps.mqtt.username === undefined ? {} : { username: this.deps.mqtt.username }),
      ...(this.deps.mqtt.password === undefined ? {} : { password: this.deps.mqtt.password }),
      ...(this.deps.mqtt.ca === undefined ? {} : { ca: this.deps.mqtt.ca }),
      protocolVersion: config.protocolVersion,
      sessionExpirySeconds: config.sessionExpirySeconds,
      keepaliveSeconds: config.keepaliveSeconds,
      connectTimeoutMs: config.connectTimeoutMs,
      maximumPacketSize: MAX_BATCH_MESSAGE_BYTES + 64 * 1024,
      backoff: config.reconnect,
      clock,
      will: () => ({ topic: topicFor(lockerId, 'presence'), payload: encodeMessage('presence', offlineMessage(this.bootId, 'will', clock.now())) }),
      subscriptions: lockerInboundSuffixes.map((s) => topicFor(lockerId, s)),
      logger,
      random: this.deps.random ?? Math.random,
      onConnected: () => this.guard('connected', () => this.onConnected()),
      onDisconnected: () => this.uploader?.pause(),
      onMessage: (topic, payload) => {
        // A code batch is applied in slices (decision 0025): its failure arrives later.
        let pending: Promise<void> | undefined;
        this.guard('message', () => {
          pending = this.onMessage(topic, payload);
        });
        return pending === undefined ? Promise.resolve() : pending.catch((err: unknown) => this.fail('message', err));
      },
    });
    const ctx: SyncContext = {
      port, lockerId, ed, keys, logger, rejections: this.rejections,
      now: () => clock.now(),
      isConnected: () => session.connected,
      publish: makePublisher(session, lockerId, logger),
      publishStored: makeStoredPublisher(session, lockerId, logger),
    };
    this.session = session;
    this.ctx = ctx;
    this.batches = new CodeBatchHandler(ctx, config.snapshotRequestIntervalMs, () => this.deps.clock.monotonicMs(), { parser: this.payloadParser }, config.audit.ackTimeoutMs);
    this.uploader = new AuditUploader(ctx, config.audit, () => this.deps.clock.monotonicMs(), {
      epochRenewed: () => this.publishBirth(),
      ackApplied: () => this.batches?.storageWritable(),
    });
    this.commands = new CommandHandler(ctx, {
      requestSnapshot: () => this.batches?.requestSnapshot('resync-command', true),
      publishHealth: () => this.publishHealth(),
      background: (task) => {
        task.catch((err: unknown) => this.fail('command', err));
      },
      publishReply: (json) => this.ctx?.publishStored('cmd/reply', json),
    }, this.commandsRunning, this.commandsUnstored, this.commandsRefused);
    this.commands.recoverUnfinished();
    this.every('tick', config.audit.pollMs, () => this.tick());
    this.every('health', config.healthIntervalMs, () => this.publishHealth());
    session.start();
    logger.info({ url: this.deps.mqtt.url, protocolVersion: config.protocolVersion }, 'sync-agent.started');
  }

  private async stopSession(clean: boolean): Promise<void> {
    for (const t of this.timers.values()) this.deps.clock.clearTimeout(t);
    this.timers.clear();
    const session = this.session;
    this.session = undefined;
    if (session === undefined) return;
    const now = this.deps.clock.now();
    const final = clean
      ? { topic: topicFor(this.deps.port.lockerId, 'presence'), payload: encodeMessage('presence', offlineMessage(this.bootId, 'shutdown', now)), retain: true }
      : undefined;
    await session.stop(final);
  }

  private onConnected(): void {
    this.restartAttempt = 0;
    this.publishBirth();
    this.commands?.flushPending();
    this.uploader?.resume();
    this.uploader?.pump();
    this.publishHealth();
  }

  /** The retained presence: on every connect, and again when the database takes a new epoch or a batch changes the kids it trusts. */
  private publishBirth(): void {
    const ctx = this.requireCtx();
    const birth = birthMessage(ctx.port, ctx.keys(), this.bootId, this.requireConfig().firmwareVersion, ctx.now());
    this.announcedKids = birth.status === 'online' ? JSON.stringify(birth.trustedKids) : undefined;
    ctx.publish('presence', birth);
  }

  /**
   * A batch changed the keyring: the retained presence would keep naming the old kids, and
   * a backend that restarts reads it and seals with a key the locker may no longer trust.
   */
  private republishBirthIfTrustChanged(): void {
    const ctx = this.ctx;
    if (ctx === undefined || this.announcedKids === undefined) return;
    if (JSON.stringify(announcedKids(ctx.keys(), ctx.now())) !== this.announcedKids) this.publishBirth();
  }

  private onMessage(topic: string, payload: Buffer): Promise<void> | undefined {
    const ctx = this.requireCtx();
    const parsed = parseTopic(topic);
    if (parsed === undefined || parsed.lockerId !== ctx.lockerId) {
      ctx.rejections.report({ topic: topic.slice(0, 200), reason: 'unexpected-topic', securityRelevant: false });
      return undefined;
    }
    switch (parsed.suffix) {
      case 'codes/batch':
        return this.batches?.handle(topic, payload).then(() => this.republishBirthIfTrustChanged());
      case 'audit/ack':
        this.uploader?.handleAck(topic, payload);
        return undefined;
      case 'cmd':
        this.commands?.handle(topic, payload);
        return undefined;
      default:
        ctx.rejections.report({ topic, reason: 'unexpected-topic', securityRelevant: false });
        return undefined;
    }
  }

  private tick(): void {
    const config = this.requireConfig();
    this.uploader?.pump();
    // A batch the full disk refused: asked for again until it is held (code-batch-handler.ts).
    this.batches?.retryRefused();
    // Replies a full disk refused: stored as soon as there is room (command-handler.ts).
    this.commands?.storeUnstored();
    this.rejections?.flushLog();
    const now = this.deps.clock.monotonicMs();
    if (now - this.lastPruneAt >= config.audit.pruneEveryMs) {
      this.lastPruneAt = now;
      this.uploader?.prune(config.audit.retentionMs);
    }
  }

  private publishHealth(): void {
    const ctx = this.ctx;
    if (ctx === undefined || !ctx.isConnected()) return;
    ctx.publish('health', healthMessage(ctx.port, ctx.rejections, this.bootId, ctx.now()));
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(what, err);
    }
  }

  /** Logs and restarts the session after a backoff; the runtime never sees the error. */
  private fail(what: string, err: unknown): void {
    this.log.error({ err, what, component: 'sync-agent' }, 'sync-agent.failed');
    if (!this.running || this.restartTimer !== undefined) return;
    const config = this.requireConfig();
    const delay = backoffDelay(this.restartAttempt++, { ...config.restart, jitter: 0.5 }, (this.deps.random ?? Math.random)());
    this.restarts++;
    void this.stopSession(false)
      .catch((stopErr: unknown) => this.log.error({ err: stopErr }, 'sync-agent.stop-failed'))
      .then(() => {
        if (!this.running) return;
        this.restartTimer = this.deps.clock.setTimeout(() => {
          this.restartTimer = undefined;
          if (this.running) this.guard('restart', () => this.startSession());
        }, delay);
      });
  }

  /** Runs `fn` every `ms` on the agent's clock until the session stops (a timer per name). */
  private every(name: string, ms: number, fn: () => void): void {
    const arm = (): void => {
      this.timers.set(name, this.deps.clock.setTimeout(() => {
        if (!this.timers.has(name)) return;
        this.guard(name, fn);
        if (this.timers.has(name)) arm();
      }, ms));
    };
    arm();
  }

  private requireConfig(): SyncAgentConfig {
    if (this.config === undefined) throw new SyncError('INTERNAL', 'sync agent not started');
    return this.config;
  }

  private requireCtx(): SyncContext {
    if (this.ctx === undefined) throw new SyncError('INTERNAL', 'sync agent not started');
    return this.ctx;
  }
}
