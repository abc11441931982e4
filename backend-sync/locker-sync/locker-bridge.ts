import {
  allLockersFilter,
  decodeMessage,
  encodeMessage,
  LogThrottle,
  parseTopic,
  publishOptionsFor,
  topicFor,
  type CodeAckMessage,
  type CodeBatch,
  type PresenceMessage,
  type HealthMessage,
  type SnapshotRequestMessage,
  type AuditUploadMessage,
  type ThrottleSummary,
  type TopicSuffix,
} from '../shared/contract.js';
import { batchKind, keyringHash, type CodeSetService } from '../codes/code-set-service.js';
import type { KeyStore } from '../keys/key-store.js';
import type { Alerts } from '../lockers/alerts.js';
import type { LockerHealth } from '../lockers/locker-health.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { isDbUnavailableError } from '../store/db-unavailable.js';
import type { Store } from '../store/store.js';
import { applyAnnouncedTrust } from './announced-trust.js';
import type { AuditIngest } from './audit-ingest.js';
import type { CommandService } from './command-service.js';
import { KeyedQueue } from './keyed-queue.js';
import { SnapshotCoalescer } from './snapshot-coalescer.js';

// The backend's side of the locker protocol (sync/contract): code batches out, acks and
// snapshot requests in, audit uploads in and signed acks out, presence in. Every inbound
// payload goes through decodeMessage (size, JSON, version, schema) and is dropped with a
// logged reason when invalid; nothing a locker sends can crash the bridge.
// One locker's messages, and the code-set publishes it is due, are handled one at a time
// in arrival order (KeyedQueue); other lockers' run meanwhile. A batch is built and marked
// published in one transaction under the set's row lock, then sent: with several instances
// one version still has one content, and a delta is not sent twice for the same versions.

export interface Publisher {
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** False while the broker is away (MqttTransport); a publisher without it is always connected. */
  readonly connected?: boolean;
}

const uplinks = ['health', 'codes/ack', 'codes/snapshot-request', 'audit/upload', 'cmd/reply'] as const;

/** One instance: every locker topic it handles, as plain subscriptions. */
export const bridgeSubscriptions: readonly string[] = ['presence' as const, ...uplinks].map((s) => allLockersFilter(s));

/**
 * Several instances (docs/decisions/0029): uplinks through the shared subscription of
 * `group`, so one instance handles each message (ingest is idempotent, so a redelivery
 * after an instance dies is harmless); presence on every instance, which keeps the
 * retained presences that re-sync lockers after a restart (shared subscriptions get no
 * retained messages) and is idempotent to handle more than once.
 */
export function bridgeSubscriptionsFor(group: string | undefined): readonly string[] {
  if (group === undefined) return bridgeSubscriptions;
  return [allLockersFilter('presence'), ...uplinks.map((s) => `$share/${group}/${allLockersFilter(s)}`)];
}

/** Uplinks whose handling signs a reply (acks, batches, snapshots). */
const signedUplinks = ['codes/ack', 'codes/snapshot-request', 'audit/upload'] as const satisfies ReadonlyArray<(typeof uplinks)[number]>;

/**
 * The shared subscriptions an instance that cannot sign (KeyStore.signingAvailable) hands
 * to the rest of its group: it would store an upload and never ack it, so the locker
 * resends it, maybe to this instance again. None without a group: then no other instance
 * would take them, and the locker's resends wait for this one.
 */
export function signedUplinkSubscriptionsFor(group: string | undefined): readonly string[] {
  return group === undefined ? [] : signedUplinks.map((s) => `$share/${group}/${allLockersFilter(s)}`);
}

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

const REJECTION_LOG_WINDOW_MS = 60_000;

export class LockerBridge {
  private publisher: Publisher | undefined;
  private readonly log: Logger;
  private readonly rejected = new Map<string, number>();
  /** A peer publishing garbage as fast as the broker allows would otherwise write a warn line per message. */
  private readonly rejectionLogs = new LogThrottle(REJECTION_LOG_WINDOW_MS);
  /**
   * During a database outage every locker message fails alike: one line a minute and a
   * count, not an error line per message. Nothing is lost meanwhile: an upload is acked
   * only once stored, so the locker sends it again; a health report is replaced by the next.
   */
  private readonly unavailableLogs = new LogThrottle(REJECTION_LOG_WINDOW_MS);
  private readonly snapshots: SnapshotCoalescer;
  private readonly queue = new KeyedQueue();

  constructor(private readonly d: LockerBridgeDeps) {
    this.log = d.logger.child({ component: 'locker-bridge' });
    this.snapshots = new SnapshotCoalescer(d.snapshotWindowMs);
    d.codeSets.onDirty((lockerId) => {
      this.queue.run(lockerId, () => this.publishDelta(lockerId)).catch((err: unknown) => {
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

  /**
   * Handles one inbound message; resolves when its effects are stored and its replies
   * published. Never rejects: a handler that fails is logged.
   */
  async onMessage(topic: string, payload: Buffer): Promise<void> {
    const parsed = parseTopic(topic);
    if (parsed === undefined) return this.reject('unknown-topic', { topic: topic.slice(0, 100) });
    const { lockerId, suffix } = parsed;
    await this.queue.run(lockerId, async () => {
      try {
        if ((await this.d.store.lockers.gate(lockerId)) === undefined) return this.reject('unknown-locker', { lockerId });
        await this.dispatch(lockerId, suffix, payload);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (isDbUnavailableError(err)) return this.logUnavailable({ lockerId, suffix, err: message });
        this.log.error({ lockerId, suffix, err: message }, 'bridge.handler_failed');
      }
    });
  }

  /**
   * Resolves once nothing is left to do: change notifications already scheduled have been
   * turned into publishes, and every queued message and publish has finished.
   */
  async idle(): Promise<void> {
    do {
      // The code-set service announces changes on the next turn (setImmediate).
      await new Promise<void>((resolve) => setImmediate(resolve));
      await this.queue.idle();
    } while (this.queue.busy);
  }

  private async dispatch(lockerId: string, suffix: TopicSuffix, payload: Buffer): Promise<void> {
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

  /**
   * Every rejection is counted by reason (metrics); the first per reason in a minute is
   * logged, the rest come out as one summary line.
   */
  private reject(reason: string, fields: Record<string, unknown>): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
    const verdict = this.rejectionLogs.hit(reason, this.d.clock.now());
    this.logRejectionSummary(verdict.summary);
    if (verdict.log) this.log.warn({ reason, ...fields }, 'bridge.message_rejected');
  }

  /** Sweeper task: the summary of a window that ended, even when the flood stopped. */
  flushRejectionLog(): Promise<number> {
    const now = this.d.clock.now();
    const summary = this.rejectionLogs.flush(now);
    this.logRejectionSummary(summary);
    const unavailable = this.unavailableLogs.flush(now);
    this.logUnavailableSummary(unavailable);
    return Promise.resolve((summary === undefined ? 0 : 1) + (unavailable === undefined ? 0 : 1));
  }

  private logUnavailable(fields: Record<string, unknown>): void {
    const verdict = this.unavailableLogs.hit('db-unavailable', this.d.clock.now(), true);
    this.logUnavailableSummary(verdict.summary);
    if (verdict.log) this.log.warn(fields, 'bridge.db_unavailable');
  }

  private logUnavailableSummary(summary: ThrottleSummary | undefined): void {
    if (summary !== undefined) this.log.warn({ suppressed: Object.values(summary.suppressed).reduce((a, b) => a + b, 0), windowMs: summary.windowMs }, 'bridge.db_unavailable_summary');
  }

  private logRejectionSummary(summary: ThrottleSummary | undefined): void {
    if (summary !== undefined) this.log.warn({ suppressed: summary.suppressed, windowMs: summary.windowMs }, 'bridge.message_rejected_summary');
  }

  private async onPresence(lockerId: string, m: PresenceMessage): Promise<void> {
    const { store, clock } = this.d;
    await store.lockers.setPresence(lockerId, m.status === 'online', clock.now(), JSON.stringify(m));
    this.log.info({ lockerId, status: m.status }, 'locker.presence');
    if (m.status !== 'online') return;
    await this.learnEpoch(lockerId, m.dbEpoch);
    // Before anything is sealed for it: a replaced database may no longer trust the key we
    // believe it does (older lockers do not say, and keep the recorded list).
    if (m.trustedKids !== undefined) await applyAnnouncedTrust(this.d, this.log, lockerId, m.dbEpoch, m.trustedKids);
    const ours = await store.codeSets.ensure(lockerId);
    const theirs = m.codeSet;
    await store.codeSets.setAcked(lockerId, theirs.version, theirs.digest, clock.now());
    // Re-send what the locker is missing, from the version it says it holds.
    if (theirs.version < ours.version) await this.send(lockerId, 'delta', theirs.version);
    else if (theirs.version > ours.version || theirs.digest !== ours.digest) await this.sendSnapshot(lockerId, theirs.version);
    // No audit ack from presence, even when the locker's watermark is behind what we stored
    // of its epoch: presence carries no hashes, and a database restored from a backup may
    // hold other records at those seqs. The locker re-sends every unacknowledged record
    // after connecting; the ack of that upload covers what we hold hash for hash.
  }

  /**
   * The locker's database epoch, from its retained presence or an upload: the epoch the
   * next commands are signed for. A change means its database was replaced (docs/operations.md).
   */
  private async learnEpoch(lockerId: string, epoch: string): Promise<void> {
    const { store, clock } = this.d;
    const before = await store.audit.currentEpoch(lockerId);
    if (!(await store.audit.setCurrentEpoch(lockerId, epoch, clock.now()))) return;
    if (before === undefined) this.log.info({ lockerId, epoch }, 'locker.epoch_learned');
    else this.log.warn({ lockerId, epoch, previous: before }, 'locker.epoch_changed');
  }

  private async onHealth(lockerId: string, m: HealthMessage): Promise<void> {
    if ((await this.d.health.onHealth(lockerId, m)) === 'stale') this.log.debug({ lockerId, bootId: m.bootId }, 'locker.health_stale');
  }

  private async onCodeAck(lockerId: string, m: CodeAckMessage): Promise<void> {
    const { store, clock, keys, alerts } = this.d;
    const ours = await store.codeSets.ensure(lockerId);
    if (m.outcome === 'rejected') {
      await alerts.raise(lockerId, 'sync.batch-rejected', `${String(m.batch.toVersion)}:${m.inReplyTo}`, { toVersion: m.batch.toVersion, reason: m.reason ?? null });
      return;
    }
    if (m.outcome === 'gap') return; // the locker follows up with a snapshot request
    await store.codeSets.setAcked(lockerId, m.state.version, m.state.digest, clock.now());
    this.snapshots.acked(lockerId, m.state.version);
    if (ours.keyringSentVersion !== undefined && m.state.version >= ours.keyringSentVersion) {
      // Every ack after the keyring went out lands here: write only what changed (a retired
      // key's trust running out, a key revoked), not the same list on every ack.
      const trusted = await keys.trustedKids(clock.now());
      if (!sameList(trusted, ours.trustedKids)) await store.codeSets.setTrustedKids(lockerId, trusted);
    }
    if (m.state.version === ours.version && m.state.digest !== ours.digest) {
      this.log.warn({ lockerId, version: m.state.version }, 'code_set.digest_mismatch');
      await this.sendSnapshot(lockerId, m.state.version);
    }
  }

  private async onSnapshotRequest(lockerId: string, m: SnapshotRequestMessage): Promise<void> {
    this.log.info({ lockerId, reason: m.reason, version: m.state.version }, 'code_set.snapshot_requested');
    await this.sendSnapshot(lockerId, m.state.version);
  }

  private async onAuditUpload(lockerId: string, m: AuditUploadMessage): Promise<void> {
    // An upload names the database it was read from, not necessarily the one running now: a
    // retry from a replaced database may arrive after the new one announced itself. It is
    // stored all the same, but only an epoch never seen before (a new database whose presence
    // is still on its way) may become current; a superseded one never comes back this way.
    // Presence, published by the running database on every connect, stays authoritative.
    const current = await this.d.store.audit.currentEpoch(lockerId);
    if (m.dbEpoch === current || !(await this.d.store.audit.knowsEpoch(lockerId, m.dbEpoch))) await this.learnEpoch(lockerId, m.dbEpoch);
    else this.log.info({ lockerId, epoch: m.dbEpoch, current }, 'locker.superseded_epoch_upload');
    const result = await this.d.ingest.ingest(lockerId, m.dbEpoch, m.records, m.ackedSeq);
    // Acked only after the transaction above committed: the ack promises durable storage,
    // and names the epoch, so the locker never applies it to another database's records.
    // A conflict tells the locker it is not the database that wrote this epoch's records.
    const conflictAt = result.conflicts.length > 0 ? Math.min(...result.conflicts) : undefined;
    // alsoSeqs are records of this upload the backend holds exactly as sent: their hashes let
    // the locker check each is its own before forgetting it.
    const sentHash = new Map(m.records.map((r) => [r.seq, r.hash]));
    const alsoHashes = result.alsoSeqs.map((seq) => sentHash.get(seq));
    await this.sendAuditAck(lockerId, m.dbEpoch, result.contiguousSeq, result.alsoSeqs, conflictAt, alsoHashes.every((h) => h !== undefined) ? alsoHashes : undefined);
  }

  private async sendSnapshot(lockerId: string, theirVersion: number): Promise<void> {
    if (!this.snapshots.admit(lockerId, theirVersion, this.d.clock.now())) {
      this.log.info({ lockerId, version: theirVersion }, 'code_set.snapshot_coalesced');
      return;
    }
    await this.send(lockerId, 'snapshot', theirVersion);
  }

  /** Sweeper task: answers requests coalesced into a snapshot that was not acked within its window. */
  async flushCoalescedSnapshots(): Promise<number> {
    const due = this.snapshots.due(this.d.clock.now());
    for (const { lockerId, theirVersion } of due) {
      await this.queue.run(lockerId, () => this.sendSnapshot(lockerId, theirVersion)).catch((err: unknown) => {
        this.log.warn({ lockerId, err: err instanceof Error ? err.message : String(err) }, 'code_set.snapshot_deferred');
      });
    }
    return due.length;
  }

  /**
   * Sweeper task: publishes the changes a failed publish left behind (the change committed,
   * the batch was never sealed or sent: this instance could not sign, a transaction failed).
   * A locker that stays connected sends no birth message that would recover them, so a
   * revoked code would keep opening until its next unrelated change. Idempotent: under the
   * set's lock a delta already published by anyone finds nothing to send.
   */
  async publishUnpublished(limit = 100): Promise<number> {
    if (!this.d.keys.signingAvailable || this.offline) return 0;
    const lockerIds = await this.d.store.codeSets.lockersWithUnpublished(limit);
    for (const lockerId of lockerIds) {
      await this.queue.run(lockerId, () => this.publishDelta(lockerId)).catch((err: unknown) => {
        this.log.warn({ lockerId, err: err instanceof Error ? err.message : String(err) }, 'code_batch.publish_deferred');
      });
    }
    return lockerIds.length;
  }

  /**
   * Publishes everything after what was already published. Not while the broker is away:
   * mqtt.js would keep the sealed batch in memory until the next connection, one per change
   * for as long as the outage lasts, and then send that backlog one round trip at a time
   * ahead of every fresh ack and command. The set stays ahead of publishedVersion instead,
   * and the sweeper's code-batch-publish sends one delta per locker once it is back.
   */
  publishDelta(lockerId: string): Promise<void> {
    if (this.offline) return Promise.resolve();
    return this.send(lockerId, 'delta', 'published');
  }

  private get offline(): boolean {
    return this.publisher?.connected === false;
  }

  /**
   * Builds, seals and marks published one batch in a transaction under the set's lock, then
   * publishes it. From `fromVersion`, or from what was published last. A snapshot must move
   * the locker forward: if it claims our version or more, ours is raised past it first.
   */
  private async send(lockerId: string, kind: 'delta' | 'snapshot', fromVersion: number | 'published'): Promise<void> {
    const { store, keys, codeSets } = this.d;
    const built = await store.transaction(async () => {
      const set = await store.codeSets.ensure(lockerId);
      const from = fromVersion === 'published' ? set.publishedVersion : fromVersion;
      if (kind === 'snapshot' && set.version <= from) await codeSets.bump(lockerId, from);
      else if (set.version <= from) return undefined;
      const keyring = await keys.keyringChanges();
      const hash = keyringHash(keyring);
      // Every snapshot carries the keyring, also one a delta became (batchKind): a locker
      // that far behind (restored from a backup) is the one likely to lack newer keys. So
      // does a delta from before the batch that last carried it: that locker never applied
      // it (a replaced database starts at version 0 with only its config's keys, and would
      // trust a key revoked since for as long as the keyring stays unchanged).
      const behindKeyring = set.keyringSentVersion !== undefined && from < set.keyringSentVersion;
      const includeKeyring = batchKind(set, kind, from) === 'snapshot' || set.keyringSentHash !== hash || behindKeyring;
      const batch: CodeBatch | undefined = await codeSets.batch(lockerId, kind, from, includeKeyring ? keyring : []);
      if (batch === undefined) return undefined;
      const message = (await keys.sealSignerFor(set.trustedKids)).codeBatch(batch);
      await store.codeSets.setPublished(lockerId, batch.toVersion);
      // The version that first carried this keyring: a re-send to a locker behind it (or in
      // a snapshot) does not move it, or every locker between the two would get it again.
      if (includeKeyring && set.keyringSentHash !== hash) await store.codeSets.setKeyringSent(lockerId, hash, batch.toVersion);
      return { batch, message };
    });
    if (built === undefined) return;
    const { batch, message } = built;
    // A delta asked from below the set's deltaFloor went out as a snapshot.
    if (batch.kind === 'snapshot') this.snapshots.sent(lockerId, batch.toVersion);
    this.log.info({ lockerId, kind: batch.kind, asked: kind, fromVersion: batch.fromVersion, toVersion: batch.toVersion, upserts: batch.upserts.length, revocations: batch.revocations.length, keyring: batch.keyring.length }, 'code_batch.published');
    await this.publish(lockerId, 'codes/batch', encodeMessage('codes/batch', message));
  }

  private async sendAuditAck(lockerId: string, epoch: string, contiguousSeq: number, alsoSeqs: number[], conflictAt: number | undefined, alsoHashes: string[] | undefined): Promise<void> {
    const set = await this.d.store.codeSets.get(lockerId);
    // The hash at the acked seq lets the locker check the ack is about its own records.
    const contiguousHash = contiguousSeq > 0 ? (await this.d.store.audit.get(lockerId, epoch, contiguousSeq))?.hash : undefined;
    const extra = {
      ...(conflictAt === undefined ? {} : { conflictAt }),
      ...(contiguousHash === undefined ? {} : { contiguousHash }),
      ...(alsoHashes === undefined || alsoHashes.length === 0 ? {} : { alsoHashes }),
    };
    // Split so every seal fits its 2048 characters (an upload's alsoSeqs with their hashes
    // rarely do in one): an ack that cannot be signed is never sent, and the locker would
    // wait out its ack timeout and send the upload again, forever for a priority upload
    // ahead of the backlog. Lowest seqs first, in order, on one QoS 1 topic.
    const acks = (await this.d.keys.sealSignerFor(set?.trustedKids ?? [])).auditAcks(lockerId, epoch, contiguousSeq, alsoSeqs, extra);
    if (acks.length > 1) this.log.debug({ lockerId, epoch, contiguousSeq, alsoSeqs: alsoSeqs.length, acks: acks.length }, 'audit.ack_split');
    for (const ack of acks) await this.publish(lockerId, 'audit/ack', encodeMessage('audit/ack', ack));
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

/** The same kids, in whatever order (the store keeps them sorted). */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
