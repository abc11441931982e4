import { connect, type MqttClient } from 'mqtt';
import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import type { AuditAckMessage, AuditUploadMessage } from '@locker/contract/audit-messages.js';
import { MAX_ALSO_SEQS } from '@locker/contract/audit-messages.js';
import type { BackendSigner } from '@locker/contract/backend-signer.js';
import type { MessageOn } from '@locker/contract/catalog.js';
import type { CodeAckMessage, CodeBatchMessage, SnapshotRequestMessage } from '@locker/contract/code-messages.js';
import type { Command, CommandMessage, CommandReplyMessage } from '@locker/contract/command-messages.js';
import { decodeMessage } from '@locker/contract/decode-message.js';
import type { HealthMessage, PresenceMessage } from '@locker/contract/presence-messages.js';
import type { AuditRecordWire } from '@locker/contract/shared-schemas.js';
import { allLockersFilter, lockerOutboundSuffixes, parseTopic, topicFor, type TopicSuffix } from '@locker/contract/topics.js';

// A minimal backend for sync tests and benchmarks, speaking the contract with real
// signatures: it stores audit uploads deduplicated by seq and acks the highest contiguous
// seq (+ priority seqs out of order), records everything else it receives, and publishes
// signed batches and commands. The real backend lives in backend-sync/.

export interface AuditLedger {
  /** Stored records by seq (deduplicated). */
  stored: Map<number, AuditRecordWire>;
  /** Seqs in the order they were first stored. */
  firstArrivals: number[];
  /** Lane of each upload message, in arrival order. */
  uploads: Array<{ lane: 'priority' | 'normal'; first: number; last: number }>;
  rawRecords: number;
  /** Records received again with the same seq and hash (transport duplicates, harmless). */
  redelivered: number;
  /** Records whose seq was already stored with another hash (must stay 0). */
  conflicting: number;
  contiguous: number;
}

export interface TestBackendOptions {
  url: string;
  signer: BackendSigner;
  protocolVersion: 4 | 5;
  clientId?: string;
  autoAck?: boolean;
  username?: string;
  password?: string;
}

export class TestBackend {
  readonly presence = new Map<string, PresenceMessage>();
  readonly codeAcks: CodeAckMessage[] = [];
  readonly snapshotRequests: SnapshotRequestMessage[] = [];
  readonly replies: CommandReplyMessage[] = [];
  readonly health: HealthMessage[] = [];
  readonly ledgers = new Map<string, AuditLedger>();
  readonly rejected: Array<{ topic: string; reason: string }> = [];
  autoAck: boolean;
  /** Called for each snapshot request (e.g. to publish a snapshot). */
  onSnapshotRequest: ((lockerId: string, req: SnapshotRequestMessage) => void) | undefined;
  onPresence: ((lockerId: string, p: PresenceMessage) => void) | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly client: MqttClient,
    readonly signer: BackendSigner,
    autoAck: boolean,
  ) {
    this.autoAck = autoAck;
  }

  static async connect(options: TestBackendOptions): Promise<TestBackend> {
    const client = connect(options.url, {
      clientId: options.clientId ?? `test-backend-${String(process.pid)}-${String(Math.floor(Math.random() * 1e9))}`,
      clean: true,
      protocolVersion: options.protocolVersion,
      reconnectPeriod: 100,
      connectTimeout: 2000,
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
    });
    const backend = new TestBackend(client, options.signer, options.autoAck ?? true);
    client.on('connect', () => {
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      client.subscribe(lockerOutboundSuffixes.map((s) => allLockersFilter(s)), { qos: 1 });
    });
    client.on('message', (topic, payload) => backend.receive(topic, payload));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    // Wait for the SUBACK so nothing published right after connect() is missed.
    await client.subscribeAsync(lockerOutboundSuffixes.map((s) => allLockersFilter(s)), { qos: 1 });
    return backend;
  }

  ledger(lockerId: string): AuditLedger {
    let l = this.ledgers.get(lockerId);
    if (l === undefined) {
      l = { stored: new Map(), firstArrivals: [], uploads: [], rawRecords: 0, redelivered: 0, conflicting: 0, contiguous: 0 };
      this.ledgers.set(lockerId, l);
    }
    return l;
  }

  private receive(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (parsed === undefined) return;
    const { lockerId, suffix } = parsed;
    const fail = (reason: string): void => {
      this.rejected.push({ topic, reason });
    };
    switch (suffix) {
      case 'presence': {
        const d = decodeMessage('presence', payload);
        if (!d.ok) return fail(d.reason);
        this.presence.set(lockerId, d.message);
        this.onPresence?.(lockerId, d.message);
        break;
      }
      case 'codes/ack': {
        const d = decodeMessage('codes/ack', payload);
        if (!d.ok) return fail(d.reason);
        this.codeAcks.push(d.message);
        break;
      }
      case 'codes/snapshot-request': {
        const d = decodeMessage('codes/snapshot-request', payload);
        if (!d.ok) return fail(d.reason);
        this.snapshotRequests.push(d.message);
        this.onSnapshotRequest?.(lockerId, d.message);
        break;
      }
      case 'cmd/reply': {
        const d = decodeMessage('cmd/reply', payload);
        if (!d.ok) return fail(d.reason);
        this.replies.push(d.message);
        break;
      }
      case 'health': {
        const d = decodeMessage('health', payload);
        if (!d.ok) return fail(d.reason);
        this.health.push(d.message);
        break;
      }
      case 'audit/upload': {
        const d = decodeMessage('audit/upload', payload);
        if (!d.ok) return fail(d.reason);
        this.storeUpload(lockerId, d.message);
        break;
      }
      default:
        break;
    }
    for (const w of [...this.waiters]) w();
  }

  private storeUpload(lockerId: string, msg: AuditUploadMessage): void {
    const l = this.ledger(lockerId);
    const first = msg.records[0]?.seq ?? 0;
    l.uploads.push({ lane: msg.lane, first, last: msg.records[msg.records.length - 1]?.seq ?? 0 });
    for (const r of msg.records) {
      l.rawRecords++;
      const known = l.stored.get(r.seq);
      if (known !== undefined) {
        if (known.hash === r.hash) l.redelivered++;
        else l.conflicting++;
        continue;
      }
      l.stored.set(r.seq, r);
      l.firstArrivals.push(r.seq);
    }
    l.contiguous = Math.max(l.contiguous, msg.ackedSeq);
    while (l.stored.has(l.contiguous + 1)) l.contiguous++;
    if (!this.autoAck) return;
    const also = msg.lane === 'priority' ? msg.records.map((r) => r.seq).filter((s) => s > l.contiguous).slice(0, MAX_ALSO_SEQS) : [];
    this.publish(lockerId, 'audit/ack', this.signer.auditAck(lockerId, msg.dbEpoch, l.contiguous, also));
  }

  publish<S extends TopicSuffix>(lockerId: string, suffix: S, message: MessageOn<S> | CodeBatchMessage | CommandMessage | AuditAckMessage): void {
    this.client.publish(topicFor(lockerId, suffix), JSON.stringify(message), { qos: 1 });
  }

  publishBatch(batch: CodeBatch): CodeBatchMessage {
    const msg = this.signer.codeBatch(batch);
    this.publish(batch.lockerId, 'codes/batch', msg);
    return msg;
  }

  /** The database epoch the locker announced in its last 'online' presence. */
  epochOf(lockerId: string): string {
    const p = this.presence.get(lockerId);
    if (p?.status !== 'online') throw new Error(`no online presence from ${lockerId} yet: its database epoch is unknown`);
    return p.dbEpoch;
  }

  /** Signed for the epoch the locker announced, unless `dbEpoch` names another. */
  publishCommand(lockerId: string, transactionId: string, command: Command, ttlMs = 60_000, dbEpoch = this.epochOf(lockerId)): CommandMessage {
    const msg = this.signer.command(lockerId, dbEpoch, transactionId, command, ttlMs);
    this.publish(lockerId, 'cmd', msg);
    return msg;
  }

  publishRaw(topic: string, payload: string | Buffer): Promise<void> {
    return this.client.publishAsync(topic, payload, { qos: 1 }).then(() => undefined);
  }

  /** Resolves when `predicate` holds (checked after every message), rejects after timeoutMs. */
  waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const poll = setInterval(check, 50);
      const cleanup = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
