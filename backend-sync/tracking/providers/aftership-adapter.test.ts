import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aftershipProvider, parseAftershipWebhook, verifyAftershipSignature } from './aftership-adapter.js';
import { aftershipSubtagMap, aftershipSubtags, aftershipTagMap, aftershipTags } from './aftership-status-map.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string): Record<string, unknown> => JSON.parse(fixture(name).toString('utf8')) as Record<string, unknown>;

/** A tracking_update with one checkpoint, shaped as the fixture's second one. */
function oneCheckpoint(patch: Record<string, unknown>): unknown {
  const hook = json('aftership-tracking-update.json');
  const msg = hook['msg'] as Record<string, unknown>;
  const checkpoint = { ...(msg['checkpoints'] as Array<Record<string, unknown>>)[1], ...patch };
  return { ...hook, msg: { ...msg, checkpoints: [checkpoint] } };
}

function tracking(parsed: ReturnType<typeof parseAftershipWebhook>): Extract<ReturnType<typeof parseAftershipWebhook>, { kind: 'tracking' }> {
  if (parsed.kind !== 'tracking') throw new Error(`expected tracking, got ${JSON.stringify(parsed)}`);
  return parsed;
}

describe('AfterShip tracking webhooks', () => {
  it('turns every checkpoint of a tracking_update into one canonical event', () => {
    const r = tracking(parseAftershipWebhook(json('aftership-tracking-update.json')));
    expect(r.trackingNumber).toBe('00340434161234567890');
    expect(r.events.map((e) => e.status)).toEqual(['label_created', 'picked_up', 'in_transit', 'out_for_delivery']);
    expect(r.events.every((e) => e.carrier === 'dhl-germany' && e.carrierEventId === undefined)).toBe(true);
    const accepted = r.events[1];
    expect(accepted?.eventTime).toBe(Date.parse('2026-11-19T16:31:00Z'));
    expect(accepted?.carrierStatus).toBe('InTransit_002');
    expect(accepted?.carrierReason).toBe('The shipment was handed in at the parcel center of origin');
    expect(accepted?.location).toEqual({ facility: 'Paketzentrum Koeln', city: 'Koeln', country: 'DEU', lat: 50.89, lng: 7.02 });
    expect(r.events[0]?.location).toBeUndefined();
  });

  it("reads a checkpoint time without an offset in its country's zone, as the payload's other checkpoints there name it", () => {
    // 05:48 in Berlin (+01:00, as the other DEU checkpoints say) is 04:48Z: before AfterShip
    // recorded it at 05:02:41Z. Read as UTC it came after that, and after the next scan's order.
    const r = tracking(parseAftershipWebhook(json('aftership-tracking-update.json')));
    expect(r.events[2]?.eventTime).toBe(Date.parse('2026-11-20T04:48:00Z'));
  });

  it('reads UTC when nothing in the payload names the zone, so checkpoints keep their order and the same instant in every resend', () => {
    const hook = json('aftership-tracking-update.json');
    const msg = hook['msg'] as Record<string, unknown>;
    const base = (msg['checkpoints'] as Array<Record<string, unknown>>)[1];
    const tokyo = { country_iso3: 'JPN', country_name: 'Japan', created_at: '2026-11-20T03:30:00+00:00' };
    const ofd = { ...base, ...tokyo, tag: 'OutForDelivery', subtag: 'OutForDelivery_001', checkpoint_time: '2026-11-20T08:00:00' };
    const attempt = { ...base, ...tokyo, tag: 'AttemptFail', subtag: 'AttemptFail_001', checkpoint_time: '2026-11-20T12:00:00' };
    const times = (checkpoints: unknown[]) => tracking(parseAftershipWebhook({ ...hook, msg: { ...msg, checkpoints } })).events.map((e) => [e.status, new Date(e.eventTime).toISOString()]);
    // Recorded together: they keep their order (bounding each by created_at put both on one instant).
    expect(times([ofd, attempt])).toEqual([
      ['out_for_delivery', '2026-11-20T08:00:00.000Z'],
      ['exception', '2026-11-20T12:00:00.000Z'],
    ]);
    // The next update resends them with a later checkpoint: the first ones read as before.
    const later = { ...base, ...tokyo, created_at: '2026-11-21T03:00:00+00:00', tag: 'OutForDelivery', subtag: 'OutForDelivery_001', checkpoint_time: '2026-11-21T09:00:00' };
    expect(times([ofd, attempt, later]).slice(0, 2)).toEqual(times([ofd, attempt]));
  });

  it("borrows a named offset by position in its country, so a later checkpoint naming another zone does not move it", () => {
    const hook = json('aftership-tracking-update.json');
    const msg = hook['msg'] as Record<string, unknown>;
    const base = (msg['checkpoints'] as Array<Record<string, unknown>>)[1];
    const aus = { country_iso3: 'AUS', country_name: 'Australia' };
    const sydney = { ...base, ...aus, tag: 'InTransit', subtag: 'InTransit_001', checkpoint_time: '2026-11-20T09:00:00+11:00' };
    const bare = { ...base, ...aus, tag: 'InTransit', subtag: 'InTransit_003', checkpoint_time: '2026-11-20T15:00:00' };
    const perth = { ...base, ...aus, tag: 'AttemptFail', subtag: 'AttemptFail_001', checkpoint_time: '2026-11-21T07:00:00+08:00' };
    const at = (checkpoints: unknown[], i: number) => tracking(parseAftershipWebhook({ ...hook, msg: { ...msg, checkpoints } })).events[i]?.eventTime;
    expect(at([sydney, bare], 1)).toBe(Date.parse('2026-11-20T04:00:00Z'));
    expect(at([sydney, bare, perth], 1)).toBe(Date.parse('2026-11-20T04:00:00Z'));
    // Nothing named before it: UTC, in the first update and after a named one came (a zone
    // borrowed from after it would move it by the whole offset, and it would enter history twice).
    expect(at([bare], 0)).toBe(Date.parse('2026-11-20T15:00:00Z'));
    expect(at([bare, sydney], 0)).toBe(Date.parse('2026-11-20T15:00:00Z'));
    // Each named time keeps its own zone: Sydney 22:00Z, Perth 23:00Z the next day, in order.
    expect(at([sydney, bare, perth], 2)).toBe(Date.parse('2026-11-20T23:00:00Z'));
  });

  it('takes a checkpoint time given as a date alone (documented: YYYY-MM-DD) as the start of that local day, so it stays before the timed scans of that day', () => {
    expect(tracking(parseAftershipWebhook(oneCheckpoint({ checkpoint_time: '2026-11-19', country_iso3: 'FRA', country_name: 'France' }))).events[0]?.eventTime).toBe(Date.parse('2026-11-19T00:00:00Z'));
    const hook = json('aftership-tracking-update.json');
    const msg = hook['msg'] as Record<string, unknown>;
    const base = (msg['checkpoints'] as Array<Record<string, unknown>>)[1];
    const r = tracking(
      parseAftershipWebhook({
        ...hook,
        msg: {
          ...msg,
          checkpoints: [
            { ...base, tag: 'InfoReceived', subtag: 'InfoReceived_001', checkpoint_time: '2026-11-19T17:00:00+01:00' },
            // A date-only pickup scan of the next day, recorded late; then a timed scan that day.
            { ...base, tag: 'InTransit', subtag: 'InTransit_002', checkpoint_time: '2026-11-20', created_at: '2026-11-20T17:10:02+00:00' },
            { ...base, tag: 'OutForDelivery', subtag: 'OutForDelivery_001', checkpoint_time: '2026-11-20T09:00:00+01:00' },
          ],
        },
      }),
    );
    // Its day starts at the borrowed +01:00: 23:00Z the day before, and it stays before the 08:00Z scan.
    expect(r.events.map((e) => [e.status, new Date(e.eventTime).toISOString()])).toEqual([
      ['label_created', '2026-11-19T16:00:00.000Z'],
      ['picked_up', '2026-11-19T23:00:00.000Z'],
      ['out_for_delivery', '2026-11-20T08:00:00.000Z'],
    ]);
  });

  it("takes a checkpoint's hash (API 2026-07) as its carrier event id", () => {
    const r = tracking(parseAftershipWebhook(oneCheckpoint({ hash: 'a3f9c2e17b' })));
    expect(r.events[0]?.carrierEventId).toBe('a3f9c2e17b');
  });

  it('puts the courier estimate (a date) on the newest checkpoint, as the end of that day at the destination', () => {
    const r = tracking(parseAftershipWebhook(json('aftership-tracking-update.json')));
    // Destination DEU, whose checkpoints name +01:00: the 21st ends at 22:59:59.999Z, not a
    // Berlin hour into the 22nd.
    expect(r.events.filter((e) => e.estimatedDeliveryAt !== undefined).map((e) => [e.status, e.estimatedDeliveryAt])).toEqual([['out_for_delivery', Date.parse('2026-11-21T22:59:59.999Z')]]);
  });

  describe('the zone of a promise without an offset', () => {
    const cp = { tag: 'InTransit', subtag: 'InTransit_001', message: 'Processed' };
    const promiseOf = (msg: Record<string, unknown>): string | undefined => {
      const r = tracking(parseAftershipWebhook({ event: 'tracking_update', msg: { tracking_number: 'AS100', slug: 'dhl', tag: 'InTransit', ...msg } }));
      const at = r.events.find((e) => e.estimatedDeliveryAt !== undefined)?.estimatedDeliveryAt;
      return at === undefined ? undefined : new Date(at).toISOString();
    };

    it("takes the destination country's last named offset, over a later one elsewhere", () => {
      const checkpoints = [
        { ...cp, checkpoint_time: '2026-11-19T10:00:00-05:00', country_iso3: 'USA' },
        { ...cp, checkpoint_time: '2026-11-20T10:00:00+01:00', country_iso3: 'DEU' },
        { ...cp, checkpoint_time: '2026-11-20T18:00:00+00:00', country_iso3: 'GBR' },
      ];
      expect(promiseOf({ destination_country_iso3: 'DEU', expected_delivery: '2026-11-22', checkpoints })).toBe('2026-11-22T22:59:59.999Z');
      expect(promiseOf({ destination_country_region: 'deu', expected_delivery: '2026-11-22T12:00:00', checkpoints })).toBe('2026-11-22T11:00:00.000Z');
    });

    it('takes the last named offset of any checkpoint before the parcel has a named scan in the destination', () => {
      const checkpoints = [
        { ...cp, checkpoint_time: '2026-11-19T10:00:00+01:00', country_iso3: 'DEU' },
        { ...cp, checkpoint_time: '2026-11-20T09:00:00+08:00', country_iso3: 'CHN' },
        { ...cp, checkpoint_time: '2026-11-20T20:00:00', country_iso3: 'USA' },
      ];
      expect(promiseOf({ destination_country_iso3: 'USA', expected_delivery: '2026-11-25', checkpoints })).toBe('2026-11-25T15:59:59.999Z');
    });

    it('reads UTC when no checkpoint names an offset, and keeps an offset the promise names', () => {
      const checkpoints = [{ ...cp, checkpoint_time: '2026-11-20T10:00:00', country_iso3: 'DEU' }];
      expect(promiseOf({ destination_country_iso3: 'DEU', expected_delivery: '2026-11-22', checkpoints })).toBe('2026-11-22T23:59:59.999Z');
      expect(promiseOf({ destination_country_iso3: 'DEU', expected_delivery: '2026-11-22T18:00:00-03:00', checkpoints: [{ ...cp, checkpoint_time: '2026-11-20T10:00:00+01:00', country_iso3: 'DEU' }] })).toBe('2026-11-22T21:00:00.000Z');
    });
  });

  it('reads the newer field names too (country_region, coordinate)', () => {
    const r = tracking(parseAftershipWebhook(oneCheckpoint({ country_iso3: undefined, country_region: 'DEU', coordinates: undefined, coordinate: { latitude: 52.52, longitude: 13.4 } })));
    expect(r.events[0]?.location).toEqual({ facility: 'Paketzentrum Koeln', city: 'Koeln', country: 'DEU', lat: 52.52, lng: 13.4 });
  });

  // Written out here, not read from the table under test: a wrong entry there must fail.
  const documented = [
    ['Pending', null],
    ['InfoReceived', 'label_created'],
    ['InTransit', 'in_transit'],
    ['OutForDelivery', 'out_for_delivery'],
    ['AttemptFail', 'exception'],
    ['Delivered', 'delivered'],
    ['AvailableForPickup', 'available_for_pickup'],
    ['Exception', 'exception'],
    ['Expired', null],
  ] as const;

  it('covers every tag AfterShip documents', () => {
    expect(documented.map(([tag]) => tag)).toEqual([...aftershipTags]);
  });

  it.each(documented)('maps the documented tag %s to %s', (tag, canonical) => {
    const r = tracking(parseAftershipWebhook(oneCheckpoint({ tag, subtag: null })));
    if (canonical === null) expect(r.skipped).toEqual([{ index: 0, carrierStatus: tag, kind: 'unmapped', reason: 'tag carries no scan' }]);
    else expect(r.events.map((e) => e.status)).toEqual([canonical]);
  });

  it('maps every documented subtag: its tag decides unless the refinement table says otherwise', () => {
    for (const subtag of aftershipSubtags) {
      const tag = subtag.split('_')[0] ?? '';
      const r = tracking(parseAftershipWebhook(oneCheckpoint({ tag, subtag })));
      const expected = aftershipSubtagMap[subtag] ?? aftershipTagMap[tag as keyof typeof aftershipTagMap];
      expect(r.events[0]?.status ?? null, subtag).toBe(expected);
    }
    expect(tracking(parseAftershipWebhook(oneCheckpoint({ tag: 'Exception', subtag: 'Exception_011' }))).events[0]?.status).toBe('returned_to_sender');
    expect(tracking(parseAftershipWebhook(oneCheckpoint({ tag: 'Exception', subtag: 'Exception_013' }))).events[0]?.status).toBe('exception');
    expect(tracking(parseAftershipWebhook(oneCheckpoint({ tag: 'AttemptFail', subtag: 'AttemptFail_002' }))).events[0]?.status).toBe('exception');
  });

  it('lets a subtag refine only its own tag, and an unlisted subtag follow its tag', () => {
    expect(tracking(parseAftershipWebhook(oneCheckpoint({ tag: 'InTransit', subtag: 'Exception_011' }))).events[0]?.status).toBe('in_transit');
    expect(tracking(parseAftershipWebhook(oneCheckpoint({ tag: 'Exception', subtag: 'Exception_017' }))).events[0]?.status).toBe('exception');
  });

  it('skips a tag AfterShip does not document and says why', () => {
    const r = tracking(parseAftershipWebhook(oneCheckpoint({ tag: 'Teleported', subtag: null })));
    expect(r.skipped[0]?.reason).toBe('tag not in the AfterShip documentation');
  });

  it("reads an edd_revise, shaped as documented, as the courier's revised promise for its number, made at its ts", () => {
    // No checkpoint names an offset: the promised day ends at midnight UTC (as a tracking_update's would).
    expect(parseAftershipWebhook(json('aftership-edd-revise.json'))).toEqual({
      kind: 'promise',
      eventType: 'edd_revise',
      trackingNumber: '00340434161234567890',
      estimatedDeliveryAt: Date.parse('2026-11-23T23:59:59.999Z'),
      revisedAt: Date.parse('2026-11-21T09:05:00Z'),
    });
  });

  it("takes the courier's promise from an edd_revise, never AfterShip's prediction, and reads the promised day where its checkpoints place the destination", () => {
    const hook = json('aftership-edd-revise.json');
    const msg = hook['msg'] as Record<string, unknown>;
    // Only AfterShip's own prediction changed: no courier promise, nothing to revise.
    const aiOnly = parseAftershipWebhook({ ...hook, msg: { ...msg, expected_delivery: null, courier_estimated_delivery_date: null } });
    expect(aiOnly).toMatchObject({ kind: 'ignored', eventType: 'edd_revise', reason: expect.stringContaining('no courier promise') as unknown });
    // Checkpoints, when sent, give the destination's offset (Berlin, +01:00); without the list at all it still reads.
    const checkpoints = (json('aftership-tracking-update.json')['msg'] as Record<string, unknown>)['checkpoints'];
    expect(parseAftershipWebhook({ ...hook, msg: { ...msg, checkpoints } })).toMatchObject({ kind: 'promise', estimatedDeliveryAt: Date.parse('2026-11-23T22:59:59.999Z') });
    const { checkpoints: _c, ...noList } = msg;
    expect(parseAftershipWebhook({ ...hook, msg: noList }).kind).toBe('promise');
    expect(parseAftershipWebhook({ ...hook, msg: { ...msg, courier_estimated_delivery_date: { estimated_delivery_date: '23.11.2026' } } }).kind).toBe('malformed');
  });

  it('acknowledges and ignores other webhook events (tracking_pending_time)', () => {
    expect(parseAftershipWebhook({ ...json('aftership-edd-revise.json'), event: 'tracking_pending_time' })).toEqual({ kind: 'ignored', eventType: 'tracking_pending_time' });
  });

  it('rejects a tracking without its number or checkpoints; skips a checkpoint without a usable time and takes the others', () => {
    const hook = json('aftership-tracking-update.json');
    const msg = hook['msg'] as Record<string, unknown>;
    const { tracking_number: _n, ...noNumber } = msg;
    const a = parseAftershipWebhook({ ...hook, msg: noNumber });
    expect(a.kind === 'malformed' && a.reason).toContain('msg.tracking_number');
    const { checkpoints: _c, ...noCheckpoints } = msg;
    expect(parseAftershipWebhook({ ...hook, msg: noCheckpoints }).kind).toBe('malformed');
    for (const checkpoint_time of ['19.11.2026 17:31', '2026-13-01T00:00:00Z', '1969-12-31T23:00:00Z']) {
      const bad = { ...(msg['checkpoints'] as Array<Record<string, unknown>>)[1], checkpoint_time };
      const r = tracking(parseAftershipWebhook({ ...hook, msg: { ...msg, checkpoints: [...(msg['checkpoints'] as unknown[]), bad] } }));
      expect(r.events, checkpoint_time).toHaveLength(4);
      expect(r.skipped, checkpoint_time).toEqual([expect.objectContaining({ index: 4, kind: 'unreadable', reason: expect.stringContaining('msg.checkpoints.4.checkpoint_time') as unknown })]);
    }
    expect(parseAftershipWebhook({ msg: msg }).kind).toBe('malformed');
  });
});

describe('AfterShip webhook signature', () => {
  const body = fixture('aftership-tracking-update.json');
  const secret = 'as-webhook-secret-51c0';
  const header = createHmac('sha256', secret).update(body).digest('base64');

  it('accepts the base64 HMAC-SHA256 of the raw body under the configured secret', () => {
    expect(verifyAftershipSignature(body, header, secret)).toEqual({ ok: true });
    expect(aftershipProvider.signatureHeader).toBe('aftership-hmac-sha256');
  });

  it('refuses a wrong secret, a tampered body, a missing or malformed header', () => {
    expect(verifyAftershipSignature(body, header, 'another-secret')).toEqual({ ok: false, reason: 'mismatch' });
    const tampered = Buffer.from(body.toString('utf8').replace('OutForDelivery_001', 'Delivered_001'));
    expect(verifyAftershipSignature(tampered, header, secret)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyAftershipSignature(body, undefined, secret)).toEqual({ ok: false, reason: 'missing' });
    expect(verifyAftershipSignature(body, Buffer.from(header, 'base64').toString('hex'), secret)).toEqual({ ok: false, reason: 'malformed' });
  });
});
