// Tracking webhooks and the customer order history: `npm run bench tracking-webhooks`.
// Prints `name: value unit` lines:
//   easypost_webhook_parse_per_s    HMAC check + JSON.parse + zod + mapping of the documented
//                                   tracker.updated fixture (6 tracking details), in process.
//   aftership_webhook_parse_per_s   the same for the tracking_update fixture (4 checkpoints).
//   tracking_webhook_http_p50_ms /  one signed EasyPost webhook through the listening app on
//   tracking_webhook_http_p99_ms    loopback (raw-body parser, HMAC, adapter, an intake that
//                                   only counts), sequential, 2,000 requests.
//   customer_orders_page_p99_ms     GET /customers/{id}/orders?limit=20 at a random depth of a
//                                   customer with 2,000 orders among 20,000 (SQLite, direct
//                                   through listCustomerOrders), p99 of 1,000 pages.
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '@locker/backend/http/app.js';
import { listCustomerOrders } from '@locker/backend/orders/customer-orders.js';
import { makeBackend } from '@locker/backend/testing/backend-fixture.js';
import { aftershipProvider } from '@locker/backend/tracking/providers/aftership-adapter.js';
import { easypostProvider } from '@locker/backend/tracking/providers/easypost-adapter.js';
import type { WebhookProvider } from '@locker/backend/tracking/providers/webhook-provider.js';
import type { TrackingIntake } from '@locker/backend/tracking/tracking-event.js';
import { opsPerSecond, percentile, print } from './bench-kit.js';

const fixtures = new URL('../../backend-sync/tracking/providers/fixtures/', import.meta.url);
const SECRET = 'bench-webhook-secret';

function parseRate(provider: WebhookProvider, file: string, sign: (b: Buffer) => string): number {
  const body = readFileSync(new URL(file, fixtures));
  const header = sign(body);
  return opsPerSecond(() => {
    if (!provider.verifySignature(body, header, SECRET).ok) throw new Error('signature');
    if (provider.parse(JSON.parse(body.toString('utf8'))).kind !== 'tracking') throw new Error('parse');
  }, 2);
}

const easypostSign = (b: Buffer): string => `hmac-sha256-hex=${createHmac('sha256', SECRET).update(b).digest('hex')}`;
print('easypost_webhook_parse_per_s', parseRate(easypostProvider, 'easypost-tracker-updated.json', easypostSign), 'ops/s');
print('aftership_webhook_parse_per_s', parseRate(aftershipProvider, 'aftership-tracking-update.json', (b) => createHmac('sha256', SECRET).update(b).digest('base64')), 'ops/s');

const dir = mkdtempSync(join(tmpdir(), 'tracking-bench-'));
const f = await makeBackend({ dir, config: { rateLimit: { windowMs: 1000, max: 10_000_000 }, tracking: { webhooks: { easypost: { secret: SECRET } } } } });
try {
  let accepted = 0;
  const intake: TrackingIntake = {
    accept: (_raw, events) => Promise.resolve({ payloadId: String(++accepted), received: events.length }),
    deadLetter: () => Promise.resolve({ deadLetterId: 'x' }),
  };
  const app = await buildApp({ ...f.services, trackingIntake: intake });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const body = readFileSync(new URL('easypost-tracker-updated.json', fixtures));
  const headers = { 'content-type': 'application/json', 'x-hmac-signature': easypostSign(body) };
  const samples: number[] = [];
  for (let i = 0; i < 2200; i++) {
    const t = performance.now();
    const res = await fetch(`${base}/tracking/webhooks/easypost`, { method: 'POST', body, headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`status ${String(res.status)}`);
    if (i >= 200) samples.push(performance.now() - t);
  }
  print('tracking_webhook_http_p50_ms', percentile(samples, 50), 'ms');
  print('tracking_webhook_http_p99_ms', percentile(samples, 99), 'ms');
  await app.close();

  // 20,000 orders, every tenth for one customer; created a second apart.
  const T = Date.parse('2026-01-01T00:00:00Z');
  await f.store.transaction(async () => {
    for (let i = 0; i < 20_000; i++) {
      const customer = i % 10 === 0 ? { name: 'Ada', customerId: 'cust-bench' } : { name: 'Other', customerId: `cust-${String(i)}` };
      await f.store.orders.insert({ id: `o-${String(i).padStart(6, '0')}`, state: 'placed', customer, totalCents: 100, currency: 'EUR', version: 1, createdAt: T + i * 1000, updatedAt: T + i * 1000 }, []);
    }
  });
  const pages: number[] = [];
  let listed = 0;
  for (let i = 0; i < 1100; i++) {
    const depth = Math.floor(Math.random() * 2000);
    const cursor = Buffer.from(JSON.stringify([T + depth * 10_000, `o-${String(depth * 10).padStart(6, '0')}`])).toString('base64url');
    const t = performance.now();
    const page = await listCustomerOrders(f.store, 'cust-bench', { limit: 20, after: cursor });
    if (i >= 100) pages.push(performance.now() - t);
    listed += page.orders.length;
  }
  if (listed === 0) throw new Error('no orders listed');
  print('customer_orders_page_p99_ms', percentile(pages, 99), 'ms');
} finally {
  await f.close();
  rmSync(dir, { recursive: true, force: true });
}
