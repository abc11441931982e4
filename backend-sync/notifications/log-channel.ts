import type { Logger } from '../shared/logger.js';
import type { NotificationRecord } from '../store/records.js';
import { redactPayload, type NotificationChannel } from './channel.js';

/** Development channel: logs that a notification went out, never its code. */
export class LogChannel implements NotificationChannel {
  readonly name = 'log';
  readonly sent: NotificationRecord[] = [];
  constructor(
    private readonly logger: Logger,
    /** Tests keep what was "delivered" (including the code) to act as the customer. */
    private readonly keep = false,
  ) {}

  send(n: NotificationRecord): Promise<void> {
    if (this.keep) this.sent.push(n);
    this.logger.info({ notificationId: n.id, kind: n.kind, payload: redactPayload(n.payload) }, 'notification.sent');
    return Promise.resolve();
  }
}
