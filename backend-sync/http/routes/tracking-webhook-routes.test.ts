import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../../auth/api-key-auth.js';
import { createLogger } from '../../shared/logger.js';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import type { CanonicalTrackingEvent, IntakeReceipt, RawTrackingPayload, TrackingIntake } from '../../tracking/tracking-event.js';
import { buildApp, type App } from '../app.js';
import type { WebhookReceipt } from './tracking-webhook-routes.js';

// The webhook routes through the real app on a real loopback socket, with API keys enabled
// (the webhooks must not need one) and a recording intake standing in for the tracking core.

const fixture = (name: string): Buffer => readFileSync(new URL(`../../tracking/providers/fixtures/${name}`, import.meta.url));
const EASYPOST_SECRET = 'ep-webhook-secret-0042';
const AFTERSHIP_SECRET = 'as-webhook-secret-0042';
const ADMIN_KEY = 'admin-key-0123456789abcdef';
const easypostSig = (body: Buffer, secret = EASYPOST_SECRET): string => `hmac-sha256-hex=${createHmac('sha256', secret).update(body).digest('hex')}`;
const aftershipSig = (body: Buffer, secret = AFTERSHIP_SECRET): string => createHmac('sha256', secret).update(body).digest('base64');

class RecordingIntake implements TrackingIntake {
  readonly accepted: Array<{ raw: RawTrackingPayload; events: readonly CanonicalTrackingEvent[] }> = [];
  readonly deadLetters: Array<{ raw: RawTrackingPayload; reason: string }> = [];
  accept(raw: RawTrackingPayload, events: readonly CanonicalTrackingEvent[]): Promise<IntakeReceipt> {
    this.accepted.push({ raw, events });
    return Promise.resolve({ payloadId: `p-${String(this.accepted.length)}`, received: events.length });
  }
  deadLetter(raw: RawTrackingPayload, reason: string): Promise<{ deadLetterId: string }> {
    this.deadLetters.push({ raw, reason });
    return Promise.resolve({ deadLetterId: `dl-${String(this.deadLetters.length)}` });
  }
}

interface Started {
  f: BackendFixture;
  app: App;
  base: string;
  intake: RecordingIntake;
  logs: Array<Record<string, unknown>>;
}

async function start(o: { secrets?: boolean; intake?: boolean } = {}): Promise<Started> {
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } });
  const f = await makeBackend({
    logger,
    config: {
      auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: apiKeyDigest(ADMIN_KEY) }] },
      ...(o.secrets === false ? {} : { tracking: { webhooks: { easypost: { secret: EASYPOST_SECRET }, aftership: { secret: AFTERSHIP_SECRET } } } }),
    },
  });
  const intake = new RecordingIntake();
  const app = await buildApp({ ...f.services, ...(o.intake === false ? {} : { trackingIntake: intake }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { f, app, base: `http://127.0.0.1:${String(port)}`, intake, logs };
}

async function post(s: Started, path: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${s.base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('tracking webhook routes', () => {
  let s: Started;
  beforeEach(async () => {
    s = await start();
  });
  afterEach(async () => {
    await s.app.close();
    await s.f.close();
  });

  it('accepts a signed EasyPost tracker.updated without an API key and hands the exact bytes and six events to the intake', async () => {
    const body = fixture('easypost-tracker-updated.json');
    const res = await post(s, '/tracking/webhooks/easypost', body, { 'x-hmac-signature': easypostSig(body) });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'accepted', eventType: 'tracker.updated', payloadId: 'p-1', received: 6, skipped: 0 } satisfies WebhookReceipt);
    expect(s.intake.accepted).toHaveLength(1);
    const got = s.intake.accepted[0];
    expect(got?.raw.source).toBe('easypost');
    expect(got?.raw.body).toBe(body.toString('utf8'));
    expect(got?.raw.receivedAt).toBe(s.f.clock.now());
    expect(got?.events.map((e) => e.status)).toEqual(['label_created', 'picked_up', 'in_transit', 'exception', 'in_transit', 'out_for_delivery']);
    expect(s.logs.some((l) => l['msg'] === 'tracking.webhook_accepted' && l['trackingNumber'] === '9400110200881234567890' && l['events'] === 6)).toBe(true);
  });

  it('accepts a signed AfterShip tracking_update and hands four events to the intake', async () => {
    const body = fixture('aftership-tracking-update.json');
    const res = await post(s, '/tracking/webhooks/aftership', body, { 'aftership-hmac-sha256': aftershipSig(body) });
    expect(res.status).toBe(200);
    expect(res.json['received']).toBe(4);
    expect(s.intake.accepted[0]?.events.map((e) => e.status)).toEqual(['label_created', 'picked_up', 'in_transit', 'out_for_delivery']);
  });

  it('refuses a wrong secret, a tampered body and a missing header with 401, logs the reason and keeps nothing', async () => {
    const body = fixture('easypost-tracker-updated.json');
    const tampered = Buffer.from(body.toString('utf8').replace('"out_for_delivery"', '"delivered"'));
    const cases: Array<[Buffer, Record<string, string>, string]> = [
      [body, { 'x-hmac-signature': easypostSig(body, 'not-the-secret') }, 'mismatch'],
      [tampered, { 'x-hmac-signature': easypostSig(body) }, 'mismatch'],
      [body, {}, 'missing'],
      [body, { 'x-hmac-signature': 'sha1=abc' }, 'malformed'],
    ];
    for (const [b, headers, reason] of cases) {
      const res = await post(s, '/tracking/webhooks/easypost', b, headers);
      expect(res.status, reason).toBe(401);
      expect((res.json['error'] as { code: string }).code).toBe('INVALID_SIGNATURE');
    }
    const as = fixture('aftership-tracking-update.json');
    expect((await post(s, '/tracking/webhooks/aftership', as, { 'aftership-hmac-sha256': aftershipSig(as, 'not-the-secret') })).status).toBe(401);
    // An EasyPost signature does not open the AfterShip route.
    expect((await post(s, '/tracking/webhooks/aftership', as, { 'x-hmac-signature': easypostSig(as) })).status).toBe(401);
    expect(s.intake.accepted).toEqual([]);
    expect(s.intake.deadLetters).toEqual([]);
    const rejected = s.logs.filter((l) => l['msg'] === 'tracking.webhook_rejected').map((l) => l['reason']);
    expect(rejected).toEqual(['mismatch', 'mismatch', 'missing', 'malformed', 'mismatch', 'missing']);
  });

  it('answers a signed but malformed payload 400 with the reason and dead-letters it', async () => {
    const event = JSON.parse(fixture('easypost-tracker-updated.json').toString('utf8')) as { result: Record<string, unknown> };
    delete event.result['tracking_code'];
    const body = Buffer.from(JSON.stringify(event));
    const res = await post(s, '/tracking/webhooks/easypost', body, { 'x-hmac-signature': easypostSig(body) });
    expect(res.status).toBe(400);
    const error = res.json['error'] as { code: string; message: string; details: { deadLetterId: string } };
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('result.tracking_code');
    expect(error.details.deadLetterId).toBe('dl-1');
    expect(s.intake.deadLetters).toEqual([{ raw: { source: 'easypost', body: body.toString('utf8'), receivedAt: s.f.clock.now() }, reason: error.message }]);
    expect(s.intake.accepted).toEqual([]);
  });

  it('takes the readable scans of a payload with one unreadable record, and dead-letters the payload for that record', async () => {
    const event = JSON.parse(fixture('easypost-tracker-updated.json').toString('utf8')) as { result: { tracking_details: Array<Record<string, unknown>> } };
    const details = event.result.tracking_details;
    event.result.tracking_details = [{ ...details[0], datetime: '0001-01-01T00:00:00Z' }, ...details];
    const body = Buffer.from(JSON.stringify(event));
    const res = await post(s, '/tracking/webhooks/easypost', body, { 'x-hmac-signature': easypostSig(body) });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'accepted', received: 6, deadLetterId: 'dl-1' });
    expect(s.intake.accepted[0]?.events).toHaveLength(6);
    expect(s.intake.deadLetters).toEqual([{ raw: expect.objectContaining({ source: 'easypost' }) as unknown, reason: expect.stringMatching(/^1 unreadable record\(s\), the others taken: result\.tracking_details\.0\.datetime: before 1970/) as unknown }]);
  });

  it('dead-letters a signed body that is not JSON at all', async () => {
    const body = Buffer.from('{"event": "tracking_update", ');
    const res = await post(s, '/tracking/webhooks/aftership', body, { 'aftership-hmac-sha256': aftershipSig(body) });
    expect(res.status).toBe(400);
    expect(s.intake.deadLetters[0]?.reason).toMatch(/^body is not JSON/);
  });

  it('acknowledges events that are not tracking updates with 200 and stores nothing', async () => {
    const batch = fixture('easypost-batch-updated.json');
    const a = await post(s, '/tracking/webhooks/easypost', batch, { 'x-hmac-signature': easypostSig(batch) });
    expect(a).toEqual({ status: 200, json: { status: 'ignored', eventType: 'batch.updated', received: 0, skipped: 0 } });
    const pending = Buffer.from(JSON.stringify({ ...(JSON.parse(fixture('aftership-edd-revise.json').toString('utf8')) as Record<string, unknown>), event: 'tracking_pending_time' }));
    const b = await post(s, '/tracking/webhooks/aftership', pending, { 'aftership-hmac-sha256': aftershipSig(pending) });
    expect(b.json['status']).toBe('ignored');
    expect(s.intake.accepted).toEqual([]);
    expect(s.logs.filter((l) => l['msg'] === 'tracking.webhook_ignored').map((l) => l['eventType'])).toEqual(['batch.updated', 'tracking_pending_time']);
  });

  it('checks an edd_revise signature as any other; one for a number with no scan yet is acknowledged, logged with why, and stores nothing', async () => {
    const edd = fixture('aftership-edd-revise.json');
    expect((await post(s, '/tracking/webhooks/aftership', edd, { 'aftership-hmac-sha256': aftershipSig(edd, 'another-secret') })).status).toBe(401);
    const res = await post(s, '/tracking/webhooks/aftership', edd, { 'aftership-hmac-sha256': aftershipSig(edd) });
    expect(res).toEqual({ status: 200, json: { status: 'ignored', eventType: 'edd_revise', received: 0, skipped: 0 } });
    expect(s.intake.accepted).toEqual([]);
    expect(s.logs.filter((l) => l['msg'] === 'tracking.promise_unanchored')).toEqual([expect.objectContaining({ trackingNumber: '00340434161234567890', reason: 'no_scan' })]);
  });

  it('acknowledges a tracker whose only scans have no canonical meaning, counting them as skipped', async () => {
    const event = JSON.parse(fixture('easypost-tracker-updated.json').toString('utf8')) as { description: string; result: { tracking_details: Array<Record<string, unknown>> } };
    event.description = 'tracker.created';
    event.result.tracking_details = [{ ...event.result.tracking_details[0], status: 'unknown', status_detail: 'unknown' }];
    const body = Buffer.from(JSON.stringify(event));
    const res = await post(s, '/tracking/webhooks/easypost', body, { 'x-hmac-signature': easypostSig(body) });
    expect(res).toEqual({ status: 200, json: { status: 'ignored', eventType: 'tracker.created', received: 0, skipped: 1 } });
    expect(s.intake.accepted).toEqual([]);
    expect(s.logs.find((l) => l['msg'] === 'tracking.webhook_records_skipped')).toMatchObject({ source: 'easypost', skipped: 1 });
  });

  it('answers 413 above the body limit before anything is checked', async () => {
    const body = Buffer.alloc(300 * 1024, 0x20);
    const res = await post(s, '/tracking/webhooks/easypost', body, { 'x-hmac-signature': easypostSig(body) });
    expect(res.status).toBe(413);
    expect(s.intake.deadLetters).toEqual([]);
  });

  it('leaves JSON parsing and API keys of the other routes as they were', async () => {
    expect((await post(s, '/lockers', JSON.stringify(lockerInput('lk-a', 52.5, 13.4)), {})).status).toBe(401);
    expect((await post(s, '/lockers', JSON.stringify(lockerInput('lk-a', 52.5, 13.4)), { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(201);
    expect((await post(s, '/lockers', '{"broken', { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(400);
  });
});

describe('tracking webhook routes on the backend\'s own intake', () => {
  it('a signed EasyPost webhook is acknowledged once stored, applied by the sweeper and served by GET /track', async () => {
    const s = await start({ intake: false });
    try {
      const body = fixture('easypost-tracker-updated.json');
      const trackingNumber = (JSON.parse(body.toString('utf8')) as { result: { tracking_code: string } }).result.tracking_code;
      const res = await post(s, '/tracking/webhooks/easypost', body, { 'x-hmac-signature': easypostSig(body) });
      expect(res.status).toBe(200);
      expect(s.intake.accepted).toHaveLength(0);
      // Acknowledged before anything was applied: the events wait in the inbox.
      expect(await s.f.store.tracking.inboxSize()).toBeGreaterThan(0);
      const auth = { authorization: `Bearer ${ADMIN_KEY}` };
      expect((await fetch(`${s.base}/track/${trackingNumber}`, { headers: auth })).status).toBe(404);
      await s.f.services.sweeper.tick(); // tracking-apply
      expect(await s.f.store.tracking.inboxSize()).toBe(0);
      const track = await fetch(`${s.base}/track/${trackingNumber}`, { headers: auth });
      expect(track.status).toBe(200);
      const view = (await track.json()) as { status: string; history: unknown[] };
      expect(view.history.length).toBeGreaterThan(0);
    } finally {
      await s.app.close();
      await s.f.close();
    }
  });
});

describe('tracking webhook routes without configuration', () => {
  it('answer 503 while no secret is configured', async () => {
    for (const o of [{ secrets: false }]) {
      const s = await start(o);
      try {
        const body = fixture('easypost-tracker-updated.json');
        const res = await post(s, '/tracking/webhooks/easypost', body, { 'x-hmac-signature': easypostSig(body) });
        expect(res.status, JSON.stringify(o)).toBe(503);
        expect((res.json['error'] as { code: string }).code).toBe('NOT_CONFIGURED');
        expect(s.logs.some((l) => l['msg'] === 'tracking.webhook_unavailable')).toBe(true);
      } finally {
        await s.app.close();
        await s.f.close();
      }
    }
  });
});
