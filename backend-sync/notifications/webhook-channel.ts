import { createHmac } from 'node:crypto';
import type { NotificationRecord } from '../store/records.js';
import { readBoundedBody } from '../shared/bounded-body.js';
import { SECRET_PAYLOAD_KEYS, type NotificationChannel } from './channel.js';

// Delivers notifications to the merchant's messaging service as signed webhooks:
//   X-Signature: t=<epoch ms>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
// The timestamp inside the MAC lets the receiver refuse replays; the notification id in
// the body lets it drop the duplicate of a retried delivery. Non-2xx and network errors
// reject, and the outbox retries with backoff.
//
// Every answer's body is read, at most DRAIN_CAP bytes of it, and then cancelled. undici
// (Node's fetch) hands a connection back to the keep-alive pool only once the body has been
// read to its end; an unread body larger than its buffers (~16 KiB: a gateway's error page,
// a chatty receiver) keeps the socket open until garbage collection, so a steady stream of
// notifications opened one connection each and piled up sockets on both ends. A body
// beyond the cap is cancelled, which closes that one connection: never buffered unbounded.

export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${String(timestamp)},v1=${createHmac('sha256', secret).update(`${String(timestamp)}.${body}`).digest('hex')}`;
}

/** Read this much of an answer's body so its connection can be reused; cancel the rest. */
const DRAIN_CAP = 64 * 1024;
/** How much of a non-2xx answer's body the error (and so the outbox's log line) carries. */
const REASON_CHARS = 200;
/** Bytes of the body kept to make those characters from: room for whitespace collapsed and secrets cut out. */
const HEAD_BYTES = 1024;

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
    const head = await drain(res);
    if (res.ok) return;
    const reason = reasonText(head, secretsOf(n.payload));
    throw new Error(`webhook answered ${String(res.status)}${reason === '' ? '' : `: ${reason}`}`);
  }
}

/**
 * Reads the body to its end when it fits in DRAIN_CAP (the connection goes back to the
 * pool), else cancels it (the connection is closed); returns its start, raw, for the error. A
 * failure while reading (the timeout, a reset) is swallowed: the status already says
 * whether the receiver took the notification, and a 2xx must not be retried for it.
 */
async function drain(res: Response): Promise<string> {
  return (await readBoundedBody(res, DRAIN_CAP, HEAD_BYTES)).head.toString('utf8');
}

/** The payload's secret values (the opened pickup code): what a receiver echoing our request would hand back. */
function secretsOf(payload: Record<string, unknown>): string[] {
  return SECRET_PAYLOAD_KEYS.map((k) => payload[k])
    .filter((v): v is string | number => typeof v === 'string' || typeof v === 'number')
    .map(String)
    .filter((v) => v !== '');
}

/**
 * The body's start as it may be stored and logged: the answer is the receiver's, not ours.
 * A secret it echoed (a validation error quoting our request) is cut out, also one cut off at
 * the end of the head; control and format characters (a binary body, terminal escapes,
 * bidi overrides; a NUL PostgreSQL refuses to store in text) become spaces.
 */
function reasonText(head: string, secrets: readonly string[]): string {
  let text = head;
  for (const secret of secrets) {
    text = text.split(secret).join('[redacted]');
    for (let k = secret.length - 1; k > 0; k--) {
      if (text.endsWith(secret.slice(0, k))) {
        text = `${text.slice(0, -k)}[redacted]`;
        break;
      }
    }
  }
  const clean = text.replace(/[\p{Cc}\p{Cf}\uFFFD]/gu, ' ').replace(/\s+/g, ' ').trim();
  // By code point: a surrogate pair is not split.
  return Array.from(clean).slice(0, REASON_CHARS).join('');
}
