import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { easypostProvider, parseEasypostEvent, verifyEasypostSignature } from './easypost-adapter.js';
import { easypostInTransitDetailMap, easypostStatusDetails, easypostStatuses } from './easypost-status-map.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string): Record<string, unknown> => JSON.parse(fixture(name).toString('utf8')) as Record<string, unknown>;

/** A tracker.updated event with one tracking detail, shaped as the fixture. */
function oneDetail(status: string, statusDetail: string | null, patch: Record<string, unknown> = {}): unknown {
  const event = json('easypost-tracker-updated.json');
  const result = event['result'] as Record<string, unknown>;
  const detail = { ...(result['tracking_details'] as Array<Record<string, unknown>>)[1], status, status_detail: statusDetail, ...patch };
  return { ...event, result: { ...result, tracking_details: [detail] } };
}

function tracking(parsed: ReturnType<typeof parseEasypostEvent>): Extract<ReturnType<typeof parseEasypostEvent>, { kind: 'tracking' }> {
  if (parsed.kind !== 'tracking') throw new Error(`expected tracking, got ${JSON.stringify(parsed)}`);
  return parsed;
}

describe('EasyPost tracker webhooks', () => {
  it('turns every tracking detail of a tracker.updated event into one canonical event', () => {
    const r = tracking(parseEasypostEvent(json('easypost-tracker-updated.json')));
    expect(r.eventType).toBe('tracker.updated');
    expect(r.trackingNumber).toBe('9400110200881234567890');
    expect(r.events.map((e) => e.status)).toEqual(['label_created', 'picked_up', 'in_transit', 'exception', 'in_transit', 'out_for_delivery']);
    expect(r.events.every((e) => e.carrier === 'usps' && e.carrierEventId === undefined)).toBe(true);
    const accepted = r.events[1];
    expect(accepted?.eventTime).toBe(Date.parse('2026-11-19T19:02:00Z'));
    expect(accepted?.carrierStatus).toBe('in_transit:received_at_origin_facility');
    expect(accepted?.carrierReason).toBe('Accepted at origin post office');
    expect(accepted?.location).toEqual({ city: 'COLUMBUS', country: 'US' });
    expect(r.events[0]?.location).toBeUndefined();
    expect(r.skipped).toEqual([]);
  });

  it('puts the tracker estimate on the newest scan only', () => {
    const r = tracking(parseEasypostEvent(json('easypost-tracker-updated.json')));
    expect(r.events.filter((e) => e.estimatedDeliveryAt !== undefined).map((e) => [e.status, e.estimatedDeliveryAt])).toEqual([['out_for_delivery', Date.parse('2026-11-21T20:00:00Z')]]);
  });

  it.each([
    ['unknown', null],
    ['pre_transit', 'label_created'],
    ['in_transit', 'in_transit'],
    ['out_for_delivery', 'out_for_delivery'],
    ['delivered', 'delivered'],
    ['available_for_pickup', 'available_for_pickup'],
    ['return_to_sender', 'returned_to_sender'],
    ['failure', 'exception'],
    ['cancelled', 'exception'],
    ['error', null],
  ] as const)('maps the documented status %s to %s', (status, canonical) => {
    const r = tracking(parseEasypostEvent(oneDetail(status, 'status_update')));
    if (canonical === null) {
      expect(r.events).toEqual([]);
      expect(r.skipped).toEqual([{ index: 0, carrierStatus: `${status}:status_update`, kind: 'unmapped', reason: 'status carries no scan' }]);
    } else {
      expect(r.events.map((e) => e.status)).toEqual([canonical]);
    }
  });

  it('lists every documented status in the table above', () => {
    expect(easypostStatuses).toHaveLength(10);
  });

  it('refines in_transit by status_detail: acceptance is picked_up, delays and losses are exceptions, the rest stay in transit', () => {
    for (const detail of easypostStatusDetails) {
      const r = tracking(parseEasypostEvent(oneDetail('in_transit', detail)));
      expect(r.events[0]?.status, detail).toBe(easypostInTransitDetailMap[detail] ?? 'in_transit');
    }
    expect(tracking(parseEasypostEvent(oneDetail('in_transit', 'received_at_origin_facility'))).events[0]?.status).toBe('picked_up');
    expect(tracking(parseEasypostEvent(oneDetail('in_transit', 'lost'))).events[0]?.status).toBe('exception');
    expect(tracking(parseEasypostEvent(oneDetail('in_transit', 'arrived_at_destination'))).events[0]?.status).toBe('in_transit');
    // Only in_transit is refined: a delivered scan with any detail stays delivered.
    expect(tracking(parseEasypostEvent(oneDetail('delivered', 'lost'))).events[0]?.status).toBe('delivered');
  });

  it('skips a status EasyPost does not document instead of guessing, and keeps the others', () => {
    const r = tracking(parseEasypostEvent(oneDetail('teleported', null)));
    expect(r.events).toEqual([]);
    expect(r.skipped[0]?.reason).toBe('status not in the EasyPost documentation');
  });

  it('acknowledges and ignores events that are not about a tracker (batch.updated)', () => {
    expect(parseEasypostEvent(json('easypost-batch-updated.json'))).toEqual({ kind: 'ignored', eventType: 'batch.updated' });
  });

  it('rejects a tracker without its tracking code, naming the field', () => {
    const event = json('easypost-tracker-updated.json');
    const result = { ...(event['result'] as Record<string, unknown>) };
    delete result['tracking_code'];
    const r = parseEasypostEvent({ ...event, result });
    expect(r.kind).toBe('malformed');
    expect(r.kind === 'malformed' && r.reason).toContain('result.tracking_code');
  });

  it('skips a scan time without an offset or out of range (as unreadable, the other details taken), and rejects a non-Event body', () => {
    for (const datetime of ['2026-11-19T14:02:00', '2026-02-30T10:00:00Z', 'yesterday', '2026-11-19 14:02:00Z', '0001-01-01T00:00:00Z']) {
      const r = parseEasypostEvent(oneDetail('in_transit', 'arrived_at_facility', { datetime }));
      expect(r.kind, datetime).toBe('tracking');
      if (r.kind !== 'tracking') continue;
      expect(r.events, datetime).toEqual([]);
      expect(r.skipped, datetime).toEqual([expect.objectContaining({ index: 0, kind: 'unreadable', reason: expect.stringContaining('tracking_details.0.datetime') as unknown })]);
    }
    const event = json('easypost-tracker-updated.json');
    const result = event['result'] as { tracking_details: Array<Record<string, unknown>> };
    const withBad = { ...event, result: { ...result, tracking_details: [{ ...result.tracking_details[0], datetime: '0001-01-01T00:00:00Z' }, ...result.tracking_details] } };
    // A carrier's placeholder date in one detail: the tracker's every other scan is still taken
    // (it is resent with each update, so refusing the payload refused them all for good).
    const r = tracking(parseEasypostEvent(withBad));
    expect(r.events).toEqual(tracking(parseEasypostEvent(event)).events);
    expect(r.skipped.filter((x) => x.kind === 'unreadable').map((x) => x.index)).toEqual([0]);
  });

  it("reads the description when a detail's message is empty", () => {
    const r = tracking(parseEasypostEvent(oneDetail('in_transit', 'arrived_at_facility', { message: '', description: 'Arrived at USPS Regional Facility' })));
    expect(r.events[0]?.carrierReason).toBe('Arrived at USPS Regional Facility');
    expect(parseEasypostEvent({ object: 'Tracker' }).kind).toBe('malformed');
    expect(parseEasypostEvent([]).kind).toBe('malformed');
  });

  it('rejects a tracking code our tracking numbers cannot hold', () => {
    const event = json('easypost-tracker-updated.json');
    const r = parseEasypostEvent({ ...event, result: { ...(event['result'] as object), tracking_code: '94001 10200' } });
    expect(r.kind).toBe('malformed');
  });
});

describe('EasyPost webhook signature', () => {
  const body = fixture('easypost-tracker-updated.json');
  const secret = 'whsec-test-7f3a9c';
  const header = `hmac-sha256-hex=${createHmac('sha256', secret).update(body).digest('hex')}`;

  it('accepts the HMAC-SHA256 hex of the raw body under the configured secret', () => {
    expect(verifyEasypostSignature(body, header, secret)).toEqual({ ok: true });
    expect(verifyEasypostSignature(body, header.toUpperCase().replace('HMAC-SHA256-HEX=', 'hmac-sha256-hex='), secret)).toEqual({ ok: true });
    expect(easypostProvider.signatureHeader).toBe('x-hmac-signature');
  });

  it('refuses a wrong secret, a tampered body, a missing or malformed header', () => {
    expect(verifyEasypostSignature(body, header, 'another-secret')).toEqual({ ok: false, reason: 'mismatch' });
    const tampered = Buffer.from(body.toString('utf8').replace('"out_for_delivery"', '"delivered"'));
    expect(verifyEasypostSignature(tampered, header, secret)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyEasypostSignature(body, undefined, secret)).toEqual({ ok: false, reason: 'missing' });
    expect(verifyEasypostSignature(body, header.slice('hmac-sha256-hex='.length), secret)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('keys the HMAC with the secret normalised to NFKD, as EasyPost does', () => {
    // U+FB01 (the "fi" ligature) decomposes to "fi" under NFKD.
    const signedWithNormalised = `hmac-sha256-hex=${createHmac('sha256', 'pro\u0066\u0069le-secret').update(body).digest('hex')}`;
    expect(verifyEasypostSignature(body, signedWithNormalised, 'pro\ufb01le-secret')).toEqual({ ok: true });
  });
});
