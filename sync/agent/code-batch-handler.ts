import type { BatchApplyResult } from './device-sync-port.js';
import { openSeal } from '@locker/contract/backend-seal.js';
import { CodeBatchManifest, type CodeBatchMessage } from '@locker/contract/code-messages.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { newEnvelope } from '@locker/contract/envelope.js';
import { decodeCodeBatch, type SlicedDecodeOptions } from './code-batch-decoder.js';
import { opt } from './optional-field.js';
import { backoffDelay } from './backoff.js';
import { attemptWrite, attemptWriteAsync, observeSignedTime } from './storage-refusal.js';
import type { SyncContext } from './sync-context.js';

// lockers/{id}/codes/batch. Order of checks: size and schema (decodeMessage), the
// manifest seal (trusted key, this locker), the manifest against the content (versions,
// counts, SHA-256), and only then the device applies it. Version logic (stale, gap, the
// atomic version switch) is the store's: the agent never decides from its own memory, so a
// duplicate, a reordered or a replayed batch is judged against the durable version.
// The apply is the sliced one (decision 0025): it yields to the event loop so the keypad
// keeps working during a 10k-code batch. handle() resolves once the batch is applied and
// acknowledged; the session acks the MQTT message only then, which also keeps batches in
// order (mqtt.js delivers the next message after that). The decode and the content hash
// run in slices too (code-batch-decoder.ts): for a 10k-code message they cost more than
// the whole staging of the batch, in one turn of the loop.
// A batch the device's storage refuses (a full disk) is not applied and not acknowledged:
// logged (code-batch.unrecorded), and the session goes on. The backend re-sends only on a
// birth message or its next change, so once an audit ack is recorded again (the disk takes
// writes; on recovery the runtime writes device.storage-recovered, whose ack follows) the
// handler asks for a snapshot from the version it holds. That ack may never come: with a
// storage reserve the runtime's tick frees room without an outage (no recovery record), an
// idle locker writes nothing at night, and the request itself can be lost. So until the
// version is reached the handler also asks again on the agent's tick, after a hold that
// starts at the audit ack timeout and doubles up to MAX_REFUSED_BATCH_RETRY_MS (each ask
// while the disk is still full costs a download refused again).

/** Like a staging slice (decision 0025): a key press waits for one at most. */
const DEFAULT_DECODE_SLICE_MS = 4;

/** Longest wait between two snapshot requests for a batch the storage refused. */
export const MAX_REFUSED_BATCH_RETRY_MS = 5 * 60_000;

export class CodeBatchHandler {
  private lastSnapshotRequestAt = Number.NEGATIVE_INFINITY;
  /** A batch the storage refused since the last one applied: the version it would have reached. */
  private refusedToVersion: number | undefined;
  /** When to ask again for the refused batch (monotonic ms), and how many asks went unanswered by an apply. */
  private refusedRetryAt = Number.POSITIVE_INFINITY;
  private refusedRetries = 0;
  /** The ack-triggered request (storageWritable) was made since the last refusal. */
  private askedSinceRefusal = false;
  private readonly slicing: SlicedDecodeOptions;

  constructor(
    private readonly ctx: SyncContext,
    private readonly snapshotRequestIntervalMs: number,
    /** The agent clock's monotonic ms. */
    private readonly monotonicNow: () => number,
    decode: Partial<SlicedDecodeOptions> = {},
    /** The first hold before a refused batch is asked for again (the audit ack timeout). */
    private readonly refusedRetryMs = 15_000,
  ) {
    this.slicing = { sliceBudgetMs: DEFAULT_DECODE_SLICE_MS, yieldToLoop: () => nextTurn(), ...decode };
  }

  async handle(topic: string, payload: Buffer): Promise<void> {
    const { ctx } = this;
    const decoded = await decodeCodeBatch(payload, this.slicing);
    if (!decoded.ok) {
      ctx.rejections.report({ topic, reason: decoded.reason, securityRelevant: false, ...opt('detail', decoded.detail), ...opt('messageId', decoded.id) });
      return;
    }
    const msg = decoded.message;
    const seal = openSeal(ctx.ed, ctx.keys(), msg.manifest, ctx.lockerId, CodeBatchManifest, ctx.now());
    if (!seal.ok) {
      ctx.rejections.report({ topic, reason: seal.reason, securityRelevant: true, messageId: msg.id, ...opt('detail', seal.detail) });
      return;
    }
    const problem = manifestMismatch(seal.claims, msg, decoded.contentHash);
    if (problem !== undefined) {
      ctx.rejections.report({ topic, reason: 'manifest-mismatch', detail: problem, securityRelevant: true, messageId: msg.id });
      return;
    }
    // Signed by a trusted key: its issue time is trusted time, whatever we do with the batch.
    observeSignedTime(ctx, seal.claims.iat, 'code-batch');
    const applied = await attemptWriteAsync(() => ctx.port.applyCodeBatchInSlices(msg.batch));
    if (!applied.written) {
      const b = msg.batch;
      this.refusedToVersion = Math.max(this.refusedToVersion ?? 0, b.toVersion);
      this.askedSinceRefusal = false;
      this.refusedRetryAt = this.monotonicNow() + backoffDelay(this.refusedRetries, { initialMs: this.refusedRetryMs, maxMs: MAX_REFUSED_BATCH_RETRY_MS, jitter: 0 }, 0);
      ctx.logger.error({
        messageId: msg.id, kind: b.kind, fromVersion: b.fromVersion, toVersion: b.toVersion, upserts: b.upserts.length, revocations: b.revocations.length,
        errorCode: 'DB_WRITE_FAILED', storageCode: applied.storageCode, version: ctx.port.codeSetState().version,
      }, 'code-batch.unrecorded');
      return;
    }
    // A snapshot taken after the refusal is the backend's whole set as it stands since then,
    // whatever its outcome: one below the refused version (the backend's set went back, or
    // was replaced) or one the store rejects would otherwise be asked for again forever,
    // each a full download and, rejected, a new backend alert. What follows is the normal
    // protocol's (the ack, the next birth).
    const reached = applied.value.outcome === 'applied' && applied.value.state.version >= (this.refusedToVersion ?? 0);
    if (reached || msg.batch.kind === 'snapshot') this.clearRefused();
    this.afterApply(msg, applied.value, seal.kid);
  }

  /**
   * The device's storage took a write again (an audit ack was recorded): a batch it refused
   * meanwhile is asked for again, as a snapshot from the version held, unless one since then
   * was applied or reached that version.
   */
  storageWritable(): void {
    if (this.refusedToVersion === undefined || this.askedSinceRefusal) return;
    this.askedSinceRefusal = true;
    this.askAgain();
  }

  /**
   * The agent's tick: a batch refused and still not reached is asked for again once its
   * hold is over (the ack above may never come, or the request or its answer was lost).
   */
  retryRefused(): void {
    if (this.refusedToVersion === undefined || this.monotonicNow() < this.refusedRetryAt) return;
    this.refusedRetries++;
    this.refusedRetryAt = this.monotonicNow() + backoffDelay(this.refusedRetries, { initialMs: this.refusedRetryMs, maxMs: MAX_REFUSED_BATCH_RETRY_MS, jitter: 0 }, 0);
    this.askAgain();
  }

  /** A snapshot from the version held, unless the version the refused batch would have reached is held already. */
  private askAgain(): void {
    const refused = this.refusedToVersion;
    if (refused === undefined) return;
    if (this.ctx.port.codeSetState().version >= refused) {
      this.clearRefused();
      return;
    }
    this.requestSnapshot('gap', true);
  }

  private clearRefused(): void {
    this.refusedToVersion = undefined;
    this.refusedRetryAt = Number.POSITIVE_INFINITY;
    this.refusedRetries = 0;
    this.askedSinceRefusal = false;
  }

  private afterApply(msg: CodeBatchMessage, result: BatchApplyResult, kid: string): void {
    const { ctx } = this;
    const b = msg.batch;
    const log = ctx.logger.child({ messageId: msg.id, kind: b.kind, fromVersion: b.fromVersion, toVersion: b.toVersion, kid });
    switch (result.outcome) {
      case 'applied':
        log.info({ version: result.state.version, upserts: b.upserts.length, revocations: b.revocations.length }, 'code-batch.applied');
        break;
      case 'stale':
        log.info({ version: result.state.version }, 'code-batch.stale');
        break;
      case 'gap':
        log.warn({ version: result.state.version }, 'code-batch.gap');
        this.requestSnapshot('gap');
        break;
      case 'rejected':
      {
        // The ack below tells the backend; a full disk only costs the audit record.
        const audited = attemptWrite(() => ctx.port.appendAudit('code-batch.rejected', 'priority', {
          messageId: msg.id, kind: b.kind, fromVersion: b.fromVersion, toVersion: b.toVersion, reason: result.reason,
        }));
        log.warn({ reason: result.reason, ...(audited.written ? {} : { audited: false, storageCode: audited.storageCode }) }, 'code-batch.rejected');
        break;
      }
    }
    ctx.publish('codes/ack', {
      ...newEnvelope('code-ack', ctx.now()),
      inReplyTo: msg.id,
      outcome: result.outcome,
      batch: { kind: b.kind, fromVersion: b.fromVersion, toVersion: b.toVersion },
      state: result.state,
      ...(result.outcome === 'rejected' ? { reason: result.reason.slice(0, 200) } : {}),
    });
  }

  /** Rate limited: a burst of deltas after a gap asks once per interval. */
  requestSnapshot(reason: 'gap' | 'resync-command' | 'digest-mismatch', force = false): void {
    const now = this.monotonicNow();
    if (!force && now - this.lastSnapshotRequestAt < this.snapshotRequestIntervalMs) return;
    this.lastSnapshotRequestAt = now;
    const state = this.ctx.port.codeSetState();
    this.ctx.logger.info({ reason, version: state.version }, 'code-batch.snapshot-requested');
    this.ctx.publish('codes/snapshot-request', { ...newEnvelope('snapshot-request', this.ctx.now()), reason, state });
  }
}

function manifestMismatch(m: CodeBatchManifest, msg: CodeBatchMessage, contentHash: string): string | undefined {
  const b = msg.batch;
  if (m.lockerId !== b.lockerId) return 'lockerId';
  if (m.kind !== b.kind) return 'kind';
  if (m.fromVersion !== b.fromVersion || m.toVersion !== b.toVersion) return 'versions';
  if (m.upserts !== b.upserts.length || m.revocations !== b.revocations.length || m.keyring !== b.keyring.length) return 'counts';
  if (m.contentHash !== contentHash) return 'content-hash';
  return undefined;
}
