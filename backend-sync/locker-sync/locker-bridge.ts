import {
  allLockersFilter,
  decodeMessage,
  encodeMessage,
  parseTopic,
  publishOptionsFor,
  topicFor,
  type CodeAckMessage,
  type CodeBatch,
  type PresenceMessage,
  type HealthMessage,
  type SnapshotRequestMessage,
  type AuditUploadMessage,
  type TopicSuffix,
} from '../shared/contract.js';
import { keyringHash, type CodeSetService } from '../codes/code-set-service.js';
import type { KeyStore } from '../keys/key-store.js';
import type { Alerts } from '../lockers/alerts.js';
import type { LockerHealth } from '../lockers/locker-health.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { AuditIngest } from './audit-ingest.js';
import type { CommandService } from './command-service.js';
import { SnapshotCoalescer } from './snapshot-coalescer.js';

// The backend's side of the locker protocol (sync/contract): code batches out, acks and
// snapshot requests in, audit uploads in and signed acks out, presence in. Every inbound
// payload goes through decodeMessage (size, JSON, version, schema) and is dropped with a
// logged reason when invalid; nothing a locker sends can crash the bridge.

export interface Publisher {
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
}

export const bridgeSubscriptions: readonly string[] = (['presence', 'health', 'codes/ack', 'codes/snapshot-request', 'audit/upload', 'cmd/reply'] as const).map((s) => allLockersFilter(s));

export interface LockerBridgeDeps {
  store: Store;
  clock: Clock;
  keys: KeyStore;
  codeSets: CodeSetService;
  ingest: AuditIngest;
  alerts: Alerts;
  commands: CommandService;
  health: LockerHealth;
  /** At most one snapshot in flight per locker within this window (snapshot-coalescer.ts). */
  snapshotWindowMs: number;
  logger: Logger;
}

export class LockerBridge {
  private publisher: Publisher | undefined;
  private readonly log: Logger;
  private readonly rejected = new Map<string, number>();
  private readonly snapshots: SnapshotCoalescer;

  constructor(private readonly d: LockerBridgeDeps) {
    this.log = d.logger.child({ component: 'locker-bridge' });
    this.snapshots = new SnapshotCoalescer(d.snapshotWindowMs);
    d.codeSets.onDirty((lockerId) => {
      this.publishDelta(lockerId).catch((err: unknown) => {
        // The set stays ahead of publishedVersion; the next change or presence re-sends.
        this.log.warn({ lockerId, err: err instanceof Error ? err.message : String(err) }, 'code_batch.publish_deferred');
      });
    });
  }

  attach(publisher: Publisher): void {
    this.publisher = publisher;
    this.d.commands.attach(publisher);
  }

  /** Counts of rejected inbound messages by reason (for tests and metrics). */
  rejections(): ReadonlyMap<string, number> {
    return this.rejected;
  }

  onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (parsed === undefined) return this.reject('unknown-topic', { topic: topic.slice(0, 100) });
    const { lockerId, suffix } = parsed;
    if (this.d.store.lockers.get(lockerId) === undefined) return this.reject('unknown-locker', { lockerId });
    try {
      this.dispatch(lockerId, suffix, payload);
    } catch (err) {
      this.log.error({ lockerId, suffix, err: err instanceof Error ? err.message : String(err) }, 'bridge.handler_failed');
    }
  }

  private dispatch(lockerId: string, suffix: TopicSuffix, payload: Buffer): void {
    switch (suffix) {
      case 'presence': {
        const m = decodeMessage('presence', payload);
        return m.ok ? this.onPresence(lockerId, m.message) : this.reject(m.reason, { lockerId, suffix, detail: m.detail });
      }
      case 'health': {
        const m = decodeMessage('health', payload);
        return m.ok ? this.onHealth(lockerId, m.message) : this.reject(m.reason, { lockerId, suffix, detail: m.detail });
      }
      case 'codes/ack': {
        const m = decodeMessage('codes/ack', payload);
        return m.ok ? this.onCodeAck(lockerId, m.message) : this.reject(m.reason, { lockerId, suffix, detail: m.detail });
      }
      case 'codes/snapshot-request': {
        const m = decodeMessage('codes/snapshot-request', payload);
        return m.ok ? this.onSnapshotRequest(lockerId, m.message) : this.reject(m.reason, { lockerId, suffix, detail: m.detail });
      }
      case 'audit/upload': {
        const m = decodeMessage('audit/upload', payload);
        return m.ok ? this.onAuditUpload(lockerId, m.message) : this.reject(m.reason, { lockerId, suffix, detail: m.detail });
      }
      case 'cmd/reply': {
        const m = decodeMessage('cmd/reply', payload);
        return m.ok ? this.d.commands.onReply(lockerId, m.message) : this.reject(m.reason, { lockerId, suffix, detail: m.detail });
      }
      default:
        return this.reject('unexpected-topic', { lockerId, suffix });
    }
  }

  private reject(reason: string, fields: Record<string, unknown>): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
    this.log.warn({ reason, ...fields }, 'bridge.message_rejected');
  }

  private onPresence(lockerId: string, m: PresenceMessage): void {
    const { store, clock } = this.d;
    store.lockers.setPresence(lockerId, m.status === 'online', clock.now(), JSON.stringify(m));
    this.log.info({ lockerId, status: m.status }, 'locker.presence');
    if (m.status !== 'online') return;
    this.learnEpoch(lockerId, m.dbEpoch);
    const ours = store.codeSets.ensure(lockerId);
    const theirs = m.codeSet;
    store.codeSets.setAcked(lockerId, theirs.version, theirs.digest, clock.now());
    // Re-send what the locker is missing, from the version it says it holds.
    if (theirs.version < ours.version) void this.send(lockerId, 'delta', theirs.version);
    else if (theirs.version > ours.version || theirs.digest !== ours.digest) this.sendSnapshot(lockerId, theirs.version);
    // Its ack watermark is behind what we stored of its epoch: our ack was lost, send it again.
    const contiguous = store.audit.contiguousSeq(lockerId, m.dbEpoch);
    if (m.audit.ackedSeq < contiguous) void this.sendAuditAck(lockerId, m.dbEpoch, contiguous, []);
  }

  /**
   * The locker's database epoch, from its retained presence or an upload: the epoch the
   * next commands are signed for. A change means its database was replaced (docs/operations.md).
   */
  private learnEpoch(lockerId: string, epoch: string): void {
    const { store, clock } = this.d;
    const before = store.audit.currentEpoch(lockerId);
    if (!store.audit.setCurrentEpoch(lockerId, epoch, clock.now())) return;
    if (before === undefined) this.log.info({ lockerId, epoch }, 'locker.epoch_learned');
    else this.log.warn({ lockerId, epoch, previous: before }, 'locker.epoch_changed');
  }

  private onHealth(lockerId: string, m: HealthMessage): void {
    if (this.d.health.onHealth(lockerId, m) === 'stale') this.log.debug({ lockerId, bootId: m.bootId }, 'locker.health_stale');
  }

  private onCodeAck(lockerId: string, m: CodeAckMessage): void {
    const { store, clock, keys, alerts } = this.d;
    const ours = store.codeSets.ensure(lockerId);
    if (m.outcome === 'rejected') {
      alerts.raise(lockerId, 'sync.batch-rejected', `${String(m.batch.toVersion)}:${m.inReplyTo}`, { toVersion: m.batch.toVersion, reason: m.reason ?? null });
      return;
    }
    if (m.outcome === 'gap') return; // the locker follows up with a snapshot request
    store.codeSets.setAcked(lockerId, m.state.version, m.state.digest, clock.now());
    this.snapshots.acked(lockerId, m.state.version);
    if (ours.keyringSentVersion !== undefined && m.state.version >= ours.keyringSentVersion) store.codeSets.setTrustedKids(lockerId, keys.trustedKids(clock.now()));
    if (m.state.version === ours.version && m.state.digest !== ours.digest) {
      this.log.warn({ lockerId, version: m.state.version }, 'code_set.digest_mismatch');
      this.sendSnapshot(lockerId, m.state.version);
    }
  }

  private onSnapshotRequest(lockerId: string, m: SnapshotRequestMessage): void {
    this.log.info({ lockerId, reason: m.reason, version: m.state.version }, 'code_set.snapshot_requested');
    this.sendSnapshot(lockerId, m.state.version);
  }

  private onAuditUpload(lockerId: string, m: AuditUploadMessage): void {
    this.learnEpoch(lockerId, m.dbEpoch);
    const result = this.d.ingest.ingest(lockerId, m.dbEpoch, m.records, m.ackedSeq);
    // Acked only after the transaction above committed: the ack promises durable storage,
    // and names the epoch, so the locker never applies it to another database's records.
    void this.sendAuditAck(lockerId, m.dbEpoch, result.contiguousSeq, result.alsoSeqs);
  }

  /** A snapshot must move the locker forward: if it claims our version or more, raise ours past it. */
  private sendSnapshot(lockerId: string, theirVersion: number): void {
    const { store, codeSets, clock } = this.d;
    if (!this.snapshots.admit(lockerId, theirVersion, clock.now())) {
      this.log.info({ lockerId, version: theirVersion }, 'code_set.snapshot_coalesced');
      return;
    }
    store.transaction(() => {
      const ours = store.codeSets.ensure(lockerId);
      if (ours.version <= theirVersion) {
        store.codeSets.setVersion(lockerId, theirVersion, ours.digest);
        codeSets.bump(lockerId);
      }
    });
    void this.send(lockerId, 'snapshot', theirVersion);
  }

  /** Sweeper task: answers requests coalesced into a snapshot that was not acked within its window. */
  flushCoalescedSnapshots(): number {
    const due = this.snapshots.due(this.d.clock.now());
    for (const { lockerId, theirVersion } of due) this.sendSnapshot(lockerId, theirVersion);
    return due.length;
  }

  /** Publishes everything after what was already published (called after commits). */
  async publishDelta(lockerId: string): Promise<void> {
    const set = this.d.store.codeSets.get(lockerId);
    if (set === undefined || set.version <= set.publishedVersion) return;
    await this.send(lockerId, 'delta', set.publishedVersion);
  }

  private async send(lockerId: string, kind: 'delta' | 'snapshot', fromVersion: number): Promise<void> {
    const { store, keys, codeSets } = this.d;
    const set = store.codeSets.ensure(lockerId);
    const keyring = keys.keyringChanges();
    const hash = keyringHash(keyring);
    const includeKeyring = kind === 'snapshot' || set.keyringSentHash !== hash;
    const batch: CodeBatch | undefined = codeSets.batch(lockerId, kind, fromVersion, includeKeyring ? keyring : []);
    if (batch === undefined) return;
    const message = keys.sealSignerFor(set.trustedKids).codeBatch(batch);
    if (kind === 'snapshot') this.snapshots.sent(lockerId, batch.toVersion);
    store.transaction(() => {
      store.codeSets.setPublished(lockerId, batch.toVersion);
      if (includeKeyring) store.codeSets.setKeyringSent(lockerId, hash, batch.toVersion);
    });
    this.log.info({ lockerId, kind, fromVersion, toVersion: batch.toVersion, upserts: batch.upserts.length, revocations: batch.revocations.length, keyring: batch.keyring.length }, 'code_batch.published');
    await this.publish(lockerId, 'codes/batch', encodeMessage('codes/batch', message));
  }

  private async sendAuditAck(lockerId: string, epoch: string, contiguousSeq: number, alsoSeqs: number[]): Promise<void> {
    const set = this.d.store.codeSets.ensure(lockerId);
    const ack = this.d.keys.sealSignerFor(set.trustedKids).auditAck(lockerId, epoch, contiguousSeq, alsoSeqs);
    await this.publish(lockerId, 'audit/ack', encodeMessage('audit/ack', ack));
  }

  private async publish(lockerId: string, suffix: TopicSuffix, payload: Buffer): Promise<void> {
    if (this.publisher === undefined) return;
    try {
      await this.publisher.publish(topicFor(lockerId, suffix), payload, publishOptionsFor(suffix));
    } catch (err) {
      // Not fatal: the locker's next presence or ack shows what it misses and we re-send.
      this.log.warn({ lockerId, suffix, err: err instanceof Error ? err.message : String(err) }, 'bridge.publish_failed');
    }
  }
}
