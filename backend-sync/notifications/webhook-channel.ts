import { createHmac } from 'node:crypto';
import type { NotificationRecord } from '../store/records.js';
import type { NotificationChannel } from './channel.js';

// Delivers notifications to the merchant's messaging service as signed webhooks:
//   X-Signature: t=<epoch ms>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
// The timestamp inside the MAC lets the receiver refuse replays; the notification id in
// the body lets it drop the duplicate of a retried delivery. Non-2xx and network errors
// reject, and the outbox retries with backoff.

export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${String(timestamp)},v1=${createHmac('sha256', secret).update(`${String(timestamp)}.${body}`).digest('hex')}`;
}

export class WebhookChannel implements NotificationChannel {
  readonly name = 'webhook';

  constructor(
    private readonly url: string,
    private readonly secret: string,
    private readonly now: () => number,
    private readonly timeoutMs = 5_000,
  ) {}

  async send(n: NotificationRecord): Promise<void> {
    const body = JSON.stringify({ id: n.id, kind: n.kind, recipient: n.recipient, payload: n.payload, createdAt: n.createdAt });
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature': webhookSignature(this.secret, this.now(), body), 'x-notification-id': n.id },
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`webhook answered ${String(res.status)}`);
  }
}
