import type { Logger } from 'pino';
import type { AuditEventData } from '@locker/contract/audit-events/index.js';
import { LogThrottle, type ThrottleSummary } from '@locker/contract/log-throttle.js';
import type { DeviceSyncPort } from './device-sync-port.js';

// Every rejected inbound message is counted per reason; the first per reason in a minute
// is logged (warn) and the rest come out as one summary line, so a peer publishing garbage
// as fast as the broker allows cannot flood the SD card. The
// security-relevant ones (a bad signature, an unknown or revoked key, a seal for another
// locker, an expired command, a content hash that does not match its manifest) are also
// written to the audit log, which reaches the backend through the upload: that is how a
// rejection is reported. Audit writes are rate limited per minute so a flood of forged
// messages cannot fill the device's log; beyond the limit they are only counted — in the
// device database, so a restart does not lose the count — and the number suppressed is
// written with the next record that is allowed (same transaction, then reset).

export interface Rejection {
  topic: string;
  reason: string;
  detail?: string;
  messageId?: string;
  transactionId?: string;
  securityRelevant: boolean;
}

export class RejectionReporter {
  private windowStart = 0;
  private inWindow = 0;
  private total = 0;
  private readonly byReason = new Map<string, number>();
  private readonly logs = new LogThrottle(60_000);

  constructor(
    private readonly port: Pick<DeviceSyncPort, 'countSuppressedRejection' | 'appendRejectionAudit'>,
    private readonly logger: Logger,
    private readonly perMinute: number,
    private readonly monotonicNow: () => number = () => performance.now(),
  ) {}

  get count(): number {
    return this.total;
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.byReason);
  }

  /** From a periodic timer: the summary of a window that ended, even if the flood stopped. */
  flushLog(): void {
    this.logSummary(this.logs.flush(this.monotonicNow()));
  }

  private logSummary(summary: ThrottleSummary | undefined): void {
    if (summary !== undefined) this.logger.warn({ suppressed: summary.suppressed, windowMs: summary.windowMs }, 'message.rejected-summary');
  }

  report(r: Rejection): void {
    this.total++;
    this.byReason.set(r.reason, (this.byReason.get(r.reason) ?? 0) + 1);
    const now = this.monotonicNow();
    // Per topic and reason (the subscribed topics are few), except an unexpected topic, which
    // a peer chooses freely: one key for all of them keeps the throttle's keys for the rest.
    // Security-relevant keys are important: garbage on three topics alone fills the
    // throttle's keys, and a tampering reason after it must still get its line. They are
    // bounded: reasons this code names, on one of the three subscribed topics.
    const verdict = this.logs.hit(r.reason === 'unexpected-topic' ? r.reason : `${r.topic} ${r.reason}`, now, r.securityRelevant);
    this.logSummary(verdict.summary);
    if (verdict.log) {
      this.logger.warn(
        { topic: r.topic, reason: r.reason, detail: r.detail, messageId: r.messageId, transactionId: r.transactionId },
        'message.rejected',
      );
    }
    // A message from a newer protocol major is not an attack, but the backend must learn
    // that this locker cannot read it: it is reported the same way.
    if (!r.securityRelevant && r.reason !== 'unsupported-version') return;
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    try {
      if (this.inWindow >= this.perMinute) {
        this.port.countSuppressedRejection();
        return;
      }
      this.inWindow++;
      const data: AuditEventData<'sync.message-rejected'> = { topic: r.topic, reason: r.reason };
      if (r.detail !== undefined) data.detail = r.detail;
      if (r.messageId !== undefined) data.messageId = r.messageId;
      if (r.transactionId !== undefined) data.transactionId = r.transactionId;
      this.port.appendRejectionAudit('priority', data);
    } catch (err) {
      this.logger.error({ err }, 'rejection.audit-failed');
    }
  }
}
