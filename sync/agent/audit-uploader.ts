import type { AuditLane, AuditRecord } from './device-sync-port.js';
import { AuditAckClaims, MAX_PRIORITY_UPLOAD_RECORDS, UPLOAD_RECORD_BYTES_BUDGET } from '@locker/contract/audit-messages.js';
import { openSeal } from '@locker/contract/backend-seal.js';
import { decodeMessage } from '@locker/contract/decode-message.js';
import { newEnvelope } from '@locker/contract/envelope.js';
import { backoffDelay } from './backoff.js';
import { opt } from './optional-field.js';
import { attemptWrite, observeSignedTime } from './storage-refusal.js';
import type { SyncContext } from './sync-context.js';

// Uploads the audit log from the device's durable outbox (SQLite), never from memory:
// after a reconnect, a lost ack or a restart, everything not acknowledged is simply read
// again and re-sent (the backend dedupes by seq). Records are marked sent only when a
// signed ack says the backend stored them.
//
// Priority lane first: on every pump, unacknowledged priority records (lockout, forced
// door, jam, clock jump…) are read and published before any normal-lane batch, so a
// security event overtakes a backlog of thousands. The backend acks them out of order
// through `alsoSeqs`; the normal lane advances with `contiguousSeq`.
//
// Every upload names the database epoch, and an ack counts only when it names the same
// epoch: seqs restart at 1 in a fresh database, so a seq alone does not identify a record.
// An ack of this epoch with `conflictAt` means the backend holds other records at seqs this
// file wrote: the file is a restored copy (the original wrote on after the backup), and
// whatever it writes would collide with those records forever. It applies the ack (the
// backend holds what it acknowledges, hash for hash), then takes a fresh epoch, audited,
// and uploads everything not yet acknowledged again under it.
//
// Flow control: at most maxInFlight upload messages await an ack. The oldest of them
// unanswered for ackTimeoutMs (since it was sent, became the oldest, or was last partly
// acked) → cursors rewind to the durable state and the unacked records go again. One upload may be
// answered by several acks (the backend splits `alsoSeqs` so each seal fits its 2048
// characters): an upload is done once the acks applied so far cover all of its records.
// A priority upload holds at most MAX_PRIORITY_UPLOAD_RECORDS, what one ack always covers.
//
// An ack the device cannot record (a full disk refuses the write) is logged
// (audit.ack-unrecorded) and not applied: its records stay unacknowledged and go again,
// and the backend, which stored them, answers them again (its ingest is idempotent). Not
// at once, nor at every ack timeout: the disk stays full for hours, and re-sending the
// whole backlog only to have its acks refused again would spend the uplink for nothing.
// Those records go again after a hold that starts at ackTimeoutMs and doubles with every
// round refused, up to MAX_ACK_REFUSED_HOLD_MS; records written meanwhile are still sent
// as usual. The first ack recorded ends the hold (audit.ack-recorded-again).

/** Longest wait before records whose ack the disk refused are sent again. */
export const MAX_ACK_REFUSED_HOLD_MS = 5 * 60_000;

interface InFlight {
  lane: AuditLane;
  /** Seqs of the upload no applied ack has covered yet; the upload is done when none are left. */
  unacked: number[];
}

export interface AuditUploaderConfig {
  batchSize: number;
  maxInFlight: number;
  ackTimeoutMs: number;
}

export interface AuditUploaderHooks {
  /** The database took a new epoch: announce it (presence) before the backend signs anything for it. */
  epochRenewed(epoch: string): void;
  /** An ack was recorded: the device's storage takes writes (again). */
  ackApplied?(): void;
}

export class AuditUploader {
  private readonly inFlight = new Map<string, InFlight>();
  private normalCursor = 0;
  private priorityCursor = 0;
  private lastProgressAt = 0;
  private sentRecords = 0;
  /** Between resume and pause: connected and subscribed to the acks. */
  private live = false;
  /** Set while records whose ack the disk refused wait to be sent again (monotonic ms). */
  private heldUntil: number | undefined;
  /** Rounds of acks refused in a row (the hold doubles with each); 0 once one is recorded. */
  private refusedRounds = 0;
  private refusedAcks = 0;

  constructor(
    private readonly ctx: SyncContext,
    private readonly config: AuditUploaderConfig,
    private readonly monotonicNow: () => number = () => performance.now(),
    private readonly hooks: AuditUploaderHooks = { epochRenewed: () => undefined },
  ) {}

  /** Records published so far (re-sends included), for logs and benchmarks. */
  get sent(): number {
    return this.sentRecords;
  }

  /**
   * The session is connected and subscribed (its SUBACK came): acks can reach us. Nothing is
   * sent before: the client counts as connected from CONNACK on (a resumed session's
   * handlers reply at once), and an upload sent then was answered on a fresh session by an
   * ack the broker delivered to no one, and was sent once more by the rewind here anyway.
   */
  resume(): void {
    this.live = true;
    this.rewind();
  }

  /** The connection is lost: nothing is sent until the next resume. */
  pause(): void {
    this.live = false;
  }

  /** After every (re)connect: nothing in flight is trusted to arrive, start from the durable state. */
  rewind(): void {
    this.inFlight.clear();
    this.priorityCursor = 0;
    this.normalCursor = this.ctx.port.auditAckedWatermark();
    this.lastProgressAt = this.monotonicNow();
  }

  /** Publishes what the window allows. Cheap when there is nothing to send. */
  pump(): void {
    if (!this.live || !this.ctx.isConnected()) return;
    if (this.heldUntil !== undefined && this.monotonicNow() >= this.heldUntil) {
      // The hold is over: whatever is still unacknowledged goes again (the disk may have room now).
      this.heldUntil = undefined;
      this.rewind();
    }
    // While held, an upload of new records is answered by an ack the disk refuses too: that
    // ends in the hold's rewind, not in a timeout re-sending the held records early.
    if (this.heldUntil === undefined && this.inFlight.size > 0 && this.monotonicNow() - this.lastProgressAt > this.config.ackTimeoutMs) {
      this.ctx.logger.warn({ inFlight: this.inFlight.size }, 'audit.ack-timeout');
      this.rewind();
    }
    while (this.inFlight.size < this.config.maxInFlight) {
      const priority = this.ctx.port.readUnackedAudit({ lane: 'priority', afterSeq: this.priorityCursor, limit: MAX_PRIORITY_UPLOAD_RECORDS });
      if (priority.length > 0) {
        this.send('priority', priority);
        continue;
      }
      const normal = this.ctx.port.readUnackedAudit({ lane: 'normal', afterSeq: this.normalCursor, limit: this.config.batchSize });
      if (normal.length === 0) return;
      this.send('normal', normal);
    }
  }

  private send(lane: AuditLane, read: AuditRecord[]): void {
    const records = withinBudget(read);
    const last = records[records.length - 1];
    if (last === undefined) return;
    if (lane === 'priority') this.priorityCursor = last.seq;
    else this.normalCursor = last.seq;
    if (this.inFlight.size === 0) this.lastProgressAt = this.monotonicNow();
    const envelope = newEnvelope('audit-upload', this.ctx.now());
    this.inFlight.set(envelope.id, { lane, unacked: records.map((r) => r.seq) });
    this.sentRecords += records.length;
    this.ctx.publish('audit/upload', {
      ...envelope,
      dbEpoch: this.ctx.port.dbEpoch,
      lane,
      ackedSeq: this.ctx.port.auditAckedWatermark(),
      highSeq: this.ctx.port.auditHighWatermark(),
      records,
    });
  }

  /** lockers/{id}/audit/ack: verified, then applied to the durable outbox, then the window moves. */
  handleAck(topic: string, payload: Buffer): void {
    const { ctx } = this;
    const decoded = decodeMessage('audit/ack', payload);
    if (!decoded.ok) {
      ctx.rejections.report({ topic, reason: decoded.reason, securityRelevant: false, ...opt('detail', decoded.detail), ...opt('messageId', decoded.id) });
      return;
    }
    const seal = openSeal(ctx.ed, ctx.keys(), decoded.message.seal, ctx.lockerId, AuditAckClaims, ctx.now());
    if (!seal.ok) {
      ctx.rejections.report({ topic, reason: seal.reason, securityRelevant: true, messageId: decoded.message.id, ...opt('detail', seal.detail) });
      return;
    }
    const ack = seal.claims;
    if (ack.dbEpoch !== ctx.port.dbEpoch) {
      // Signed by the backend, but for another database of this locker (one moved aside, or
      // restored over): its seqs are another chain's. Ignored; the backend re-acks this
      // epoch once it has this epoch's records.
      ctx.rejections.report({ topic, reason: 'ack-wrong-epoch', securityRelevant: false, messageId: decoded.message.id, detail: `ack for epoch ${ack.dbEpoch}` });
      return;
    }
    const high = ctx.port.auditHighWatermark();
    if (ack.contiguousSeq > high || ack.alsoSeqs.some((s) => s > high)) {
      // An ack for records we never wrote: a backend bug or a key misuse. Acknowledging
      // would be harmless for unwritten seqs, but it says the two sides disagree.
      ctx.rejections.report({ topic, reason: 'ack-beyond-high-watermark', securityRelevant: true, messageId: decoded.message.id });
      return;
    }
    const { alsoHashes } = ack;
    if (alsoHashes !== undefined && alsoHashes.length !== ack.alsoSeqs.length) {
      ctx.rejections.report({ topic, reason: 'ack-hashes-unpaired', securityRelevant: true, messageId: decoded.message.id, detail: `${String(ack.alsoSeqs.length)} seqs, ${String(alsoHashes.length)} hashes` });
      return;
    }
    const ours = ack.contiguousSeq > ctx.port.auditAckedWatermark() ? ctx.port.auditHashAt(ack.contiguousSeq) : undefined;
    const otherAlso = alsoHashes === undefined ? undefined : ack.alsoSeqs.find((seq, i) => differs(ctx.port.auditHashAt(seq), alsoHashes[i]));
    if ((ack.contiguousHash !== undefined && differs(ours, ack.contiguousHash)) || otherAlso !== undefined) {
      // The backend holds another record at that seq of this epoch (an ack queued for the
      // original of this restored copy, say): applying it would forget records it never
      // stored. Not applied; this file takes a new epoch instead.
      this.renewEpoch(otherAlso ?? ack.contiguousSeq);
      return;
    }
    observeSignedTime(ctx, ack.iat, 'audit-ack');
    const also = new Set(ack.alsoSeqs);
    const applied = attemptWrite(() => ctx.port.acknowledgeAudit({ contiguousSeq: ack.contiguousSeq, alsoSeqs: ack.alsoSeqs }));
    if (!applied.written) {
      this.ackRefused(ack, also, decoded.message.id, applied.storageCode);
      return;
    }
    if (this.refusedAcks > 0) {
      ctx.logger.info({ refusedAcks: this.refusedAcks, contiguousSeq: ack.contiguousSeq }, 'audit.ack-recorded-again');
      this.refusedAcks = 0;
      this.refusedRounds = 0;
      if (this.heldUntil !== undefined) {
        this.heldUntil = undefined;
        this.rewind();
      }
    }
    this.hooks.ackApplied?.();
    // The stall clock follows the oldest upload in flight only: acks of later ones must not
    // keep resetting it while the oldest is never answered (an upload the backend failed to
    // store is sent again only by the timeout; steady traffic in the other slots would
    // otherwise defer it, and with it the acked watermark and pruning, until traffic stops).
    // A backend answering in order answers the oldest first, so this times out no later.
    const oldest = this.inFlight.keys().next().value;
    let progressed = false;
    for (const [id, f] of this.inFlight) {
      const left = f.unacked.filter((s) => s > ack.contiguousSeq && !also.has(s));
      if (left.length === f.unacked.length) continue;
      if (id === oldest) progressed = true;
      if (left.length === 0) this.inFlight.delete(id);
      else f.unacked = left;
    }
    if (progressed) this.lastProgressAt = this.monotonicNow();
    if (ack.conflictAt !== undefined) {
      this.renewEpoch(ack.conflictAt);
      return;
    }
    this.pump();
  }

  /**
   * The disk refused to record an ack: nothing marked. The uploads it answers are done with
   * (their records go again when the hold ends); the first refusal of a round starts the
   * hold, later ones of the same round (the other uploads in flight) only count.
   */
  private ackRefused(ack: AuditAckClaims, also: ReadonlySet<number>, messageId: string, storageCode: string): void {
    let range = { records: 0, fromSeq: Number.POSITIVE_INFINITY, toSeq: 0 };
    const add = (seq: number): void => {
      range = { records: range.records + 1, fromSeq: Math.min(range.fromSeq, seq), toSeq: Math.max(range.toSeq, seq) };
    };
    for (const [id, f] of this.inFlight) {
      const answered = f.unacked.filter((s) => s <= ack.contiguousSeq || also.has(s));
      if (answered.length === 0) continue;
      answered.forEach(add);
      this.inFlight.delete(id);
    }
    if (range.records === 0) {
      // An upload sent before a rewind: what the ack would have marked, from the durable state.
      const acked = this.ctx.port.auditAckedWatermark();
      if (ack.contiguousSeq > acked) range = { records: ack.contiguousSeq - acked, fromSeq: acked + 1, toSeq: ack.contiguousSeq };
      ack.alsoSeqs.filter((s) => s > Math.max(acked, ack.contiguousSeq)).forEach(add);
    }
    this.refusedAcks++;
    const { held, retryInMs } = this.holdAfterRefusal();
    this.ctx.logger[held ? 'debug' : 'warn']({
      errorCode: 'DB_WRITE_FAILED', storageCode, messageId,
      records: range.records,
      ...(range.records === 0 ? {} : { fromSeq: range.fromSeq, toSeq: range.toSeq }),
      contiguousSeq: ack.contiguousSeq, alsoSeqs: ack.alsoSeqs.length,
      refusedAcks: this.refusedAcks, retryInMs,
    }, 'audit.ack-unrecorded');
    this.pump();
  }

  /**
   * Starts the hold after a write the disk refused (uploads pause, doubling per round up to
   * MAX_ACK_REFUSED_HOLD_MS), or tells how long the one running has left.
   */
  private holdAfterRefusal(): { held: boolean; retryInMs: number } {
    const now = this.monotonicNow();
    const held = this.heldUntil !== undefined && now < this.heldUntil;
    const retryInMs = held ? (this.heldUntil ?? now) - now : backoffDelay(this.refusedRounds++, { initialMs: this.config.ackTimeoutMs, maxMs: MAX_ACK_REFUSED_HOLD_MS, jitter: 0 }, 0);
    if (!held) this.heldUntil = now + retryInMs;
    return { held, retryInMs };
  }

  /** This file is a restored copy: a fresh epoch, and every unacknowledged record again under it. */
  private renewEpoch(conflictAt: number): void {
    const { ctx } = this;
    const previous = ctx.port.dbEpoch;
    const renewed = attemptWrite(() => ctx.port.renewDbEpoch({ reason: 'conflicting-record', conflictAt }));
    if (!renewed.written) {
      // Every upload under the old epoch meets the same conflict, and the ack answering it
      // asks for the same renewal: they pause like refused acks (a round of re-sends ends
      // the hold and asks again) instead of ending the session each time.
      const { held, retryInMs } = this.holdAfterRefusal();
      this.inFlight.clear();
      ctx.logger[held ? 'debug' : 'warn']({ errorCode: 'DB_WRITE_FAILED', storageCode: renewed.storageCode, epoch: previous, conflictAt, retryInMs }, 'audit.epoch-renew-unrecorded');
      return;
    }
    const epoch = renewed.value;
    // The disk took the write: the hold of the refused renewals ends, and the next refusal
    // starts again at the shortest hold (no recorded ack may reset it: refusedAcks is 0 here).
    this.refusedRounds = 0;
    this.heldUntil = undefined;
    ctx.logger.warn({ previousEpoch: previous, epoch, conflictAt, highSeq: ctx.port.auditHighWatermark() }, 'audit.epoch-renewed');
    this.hooks.epochRenewed(epoch);
    this.rewind();
    this.pump();
  }

  prune(retentionMs: number): void {
    const deleted = this.ctx.port.pruneAcknowledgedAudit(retentionMs);
    if (deleted > 0) this.ctx.logger.info({ deleted }, 'audit.pruned');
  }
}

/**
 * The longest prefix whose records fit one upload message (always at least one record:
 * records are immutable, a single large one goes alone; the wire schema caps dataJson).
 */
function withinBudget(records: AuditRecord[]): AuditRecord[] {
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r === undefined) break;
    bytes += r.dataJson.length * 2 + r.type.length + 200; // *2: worst-case JSON escaping
    if (bytes > UPLOAD_RECORD_BYTES_BUDGET && i > 0) return records.slice(0, i);
  }
  return records;
}

/** Our record's hash is known and is not the one the backend holds (a pruned record is not compared). */
function differs(ours: string | undefined, theirs: string | undefined): boolean {
  return ours !== undefined && theirs !== undefined && ours !== theirs;
}
