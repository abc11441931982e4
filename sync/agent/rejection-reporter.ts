import type { Logger } from 'pino';
import type { AuditEventData } from '@locker/contract/audit-events/index.js';
import type { DeviceSyncPort } from './device-sync-port.js';

// Every rejected inbound message is logged with its reason (warn) and counted. The
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

  report(r: Rejection): void {
    this.total++;
    this.byReason.set(r.reason, (this.byReason.get(r.reason) ?? 0) + 1);
    this.logger.warn(
      { topic: r.topic, reason: r.reason, detail: r.detail, messageId: r.messageId, transactionId: r.transactionId },
      'message.rejected',
    );
    // A message from a newer protocol major is not an attack, but the backend must learn
    // that this locker cannot read it: it is reported the same way.
    if (!r.securityRelevant && r.reason !== 'unsupported-version') return;
    const now = this.monotonicNow();
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
