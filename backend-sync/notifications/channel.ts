import type { NotificationRecord } from '../store/records.js';

// A way to reach a customer. The outbox calls send() until it resolves; a rejection is
// retried with backoff. Channels must be idempotent on notification.id (a crash between
// send and markSent re-sends once; the id lets the receiver drop the duplicate).
export interface NotificationChannel {
  readonly name: string;
  send(n: NotificationRecord): Promise<void>;
}

/** Fields that must not survive in the database once sent. */
export const SECRET_PAYLOAD_KEYS: readonly string[] = ['code', 'token'];

export function redactPayload(payload: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(payload)) out[k] = SECRET_PAYLOAD_KEYS.includes(k) ? '[sent]' : v;
  return out;
}
