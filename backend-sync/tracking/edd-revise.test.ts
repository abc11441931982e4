import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';
import { isPromiseRevision } from './core/event-identity.js';
import { rebuildTracking } from './rebuild-tracking.js';

// AfterShip's edd_revise through the real webhook route, intake, applier and GET /track, on
// both engines: the courier's revised promise moves the ETA before any new scan, enters
// history once however often it is delivered (and between tracking_update resends), an
// older revision retried after a newer one rolls nothing back, and a rebuild from history
// serves the same ETA as the live fold.

const engines = await testEngines('AfterShip edd_revise');
const SECRET = 'as-webhook-secret-edd-7';
const TN = '00340434161234567890';
const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`./providers/fixtures/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const update = fixture('aftership-tracking-update.json');
const updateMsg = update['msg'] as Record<string, unknown>;

/**
 * An edd_revise shaped as the webhook specifications document it: the envelope, its msg the
 * Tracking object (here with the checkpoints the tracking_update had, so the promised day is
 * read at the destination's offset as a tracking_update reads it), the courier's new promise.
 */
function eddRevise(day: string, ts: string, eventId: string): Record<string, unknown> {
  const base = fixture('aftership-edd-revise.json');
  const msg = base['msg'] as Record<string, unknown>;
  return {
    ...base,
    event_id: eventId,
    ts: Date.parse(ts) / 1000,
    msg: { ...msg, checkpoints: updateMsg['checkpoints'], expected_delivery: day, courier_estimated_delivery_date: { estimated_delivery_date: day, estimated_delivery_date_min: null, estimated_delivery_date_max: null } },
  };
}

/** End of a promised day in Berlin (+01:00 in November). */
const endOfBerlinDay = (day: string): number => Date.parse(`${day}T23:59:59.999+01:00`);

describe.each(engines)('an AfterShip edd_revise (%s)', (engine) => {
  let f: BackendFixture;
  afterEach(() => f.close());

  async function start(): Promise<void> {
    // Before the first promise (the 21st) has passed: GET /track serves it as promised.
    f = await makeBackend({ engine, clock: new ManualClock(Date.parse('2026-11-21T09:00:00Z')), config: { tracking: { webhooks: { aftership: { secret: SECRET } } } } });
  }

  /** Delivers a webhook and leaves the applier alone (the events wait in the inbox). */
  async function post(body: unknown): Promise<Record<string, unknown>> {
    const raw = Buffer.from(JSON.stringify(body));
    const res = await (await f.app()).inject({
      method: 'POST',
      url: '/tracking/webhooks/aftership',
      headers: { 'content-type': 'application/json', 'aftership-hmac-sha256': createHmac('sha256', SECRET).update(raw).digest('base64') },
      payload: raw,
    });
    expect(res.statusCode).toBe(200);
    return res.json();
  }

  async function hook(body: unknown): Promise<Record<string, unknown>> {
    const answer = await post(body);
    await f.services.tracking.applier.drain();
    return answer;
  }

  async function track(): Promise<{ eta: number | null; carrierPromise: number | null; status: string }> {
    const res = await (await f.app()).inject({ method: 'GET', url: `/track/${TN}` });
    expect(res.statusCode).toBe(200);
    return res.json();
  }

  const revisions = async (): Promise<number> => (await f.store.tracking.history(TN)).filter((h) => isPromiseRevision(h.hash)).length;

  it('moves the ETA GET /track serves, once however often it comes, and a rebuild serves the same', async () => {
    await start();
    await hook(update);
    expect(await track()).toMatchObject({ status: 'out_for_delivery', carrierPromise: endOfBerlinDay('2026-11-21'), eta: endOfBerlinDay('2026-11-21') });

    f.clock.advance(60_000);
    expect(await hook(eddRevise('2026-11-23', '2026-11-21T09:00:30Z', 'e-1'))).toMatchObject({ status: 'accepted', eventType: 'edd_revise' });
    expect(await track()).toMatchObject({ status: 'out_for_delivery', carrierPromise: endOfBerlinDay('2026-11-23'), eta: endOfBerlinDay('2026-11-23') });
    expect(await revisions()).toBe(1);

    // The same edd_revise again (AfterShip retries), a tracking_update resend now carrying the
    // same promise, and the edd_revise a third time: one revision, the same state.
    const live = await f.store.tracking.projection(TN);
    f.clock.advance(60_000);
    await hook(eddRevise('2026-11-23', '2026-11-21T09:00:30Z', 'e-1'));
    f.clock.advance(60_000);
    await hook({ ...update, ts: Date.parse('2026-11-21T09:02:00Z') / 1000, msg: { ...updateMsg, expected_delivery: '2026-11-23', courier_estimated_delivery_date: { estimated_delivery_date: '2026-11-23' } } });
    f.clock.advance(60_000);
    await hook(eddRevise('2026-11-23', '2026-11-21T09:00:30Z', 'e-1'));
    expect(await revisions()).toBe(1);
    expect((await f.store.tracking.projection(TN))?.projection).toEqual(live?.projection);

    // A rebuild from history finds nothing to repair, and GET /track serves the same after it.
    const served = await track();
    expect((await rebuildTracking(f.store, f.clock, f.services.tracking.eta, { write: true })).differences).toEqual([]);
    expect(await track()).toEqual(served);
  });

  it('keeps the newer promise when an older edd_revise is delivered after it', async () => {
    await start();
    await hook(update);
    f.clock.advance(60_000);
    await hook(eddRevise('2026-11-24', '2026-11-21T09:00:40Z', 'e-new'));
    f.clock.advance(60_000);
    // Made before the one above (its ts), retried after it.
    await hook(eddRevise('2026-11-22', '2026-11-21T08:30:00Z', 'e-old'));
    expect(await track()).toMatchObject({ carrierPromise: endOfBerlinDay('2026-11-24'), eta: endOfBerlinDay('2026-11-24') });
    expect(await revisions()).toBe(1);
    expect((await rebuildTracking(f.store, f.clock, f.services.tracking.eta, { write: false })).differences).toEqual([]);
  });

  it('acknowledges an edd_revise for a number with no scan yet, keeps nothing, and counts it', async () => {
    await start();
    expect(await hook(eddRevise('2026-11-23', '2026-11-21T09:00:30Z', 'e-1'))).toMatchObject({ status: 'ignored', eventType: 'edd_revise' });
    expect(await f.store.tracking.history(TN)).toEqual([]);
    expect(f.services.tracking.metrics.counts.promise_unanchored).toBe(1);
    // The first tracking_update brings its own promise.
    await hook(update);
    expect(await track()).toMatchObject({ carrierPromise: endOfBerlinDay('2026-11-21') });
  });

  // AfterShip retries a webhook it could not deliver for hours: its `ts` (when the revision was
  // made) orders revisions, but the webhook arrived now, and everything that measures
  // arrivals must see now.
  const HOUR = 3_600_000;

  it('shows no apply lag for an edd_revise AfterShip made hours before it was delivered', async () => {
    await start();
    await hook(update);
    f.clock.advance(6 * HOUR);
    await post(eddRevise('2026-11-23', new Date(f.clock.now() - 5 * HOUR).toISOString(), 'e-late'));
    // Accepted a moment ago and not applied yet: the oldest pending event has waited no time.
    expect(await f.store.tracking.inboxBacklog(100)).toEqual({ events: 1, oldestReceivedAt: f.clock.now() });
    await f.services.tracking.applier.drain();
    expect(await track()).toMatchObject({ carrierPromise: endOfBerlinDay('2026-11-23') });
  });

  it('counts an edd_revise delivered late as a webhook received now in the poll schedule', async () => {
    await start();
    await hook(update);
    const before = await f.store.pollSchedule.get(TN);
    f.clock.advance(3 * HOUR);
    const now = f.clock.now();
    await hook(eddRevise('2026-11-23', new Date(now - 4 * HOUR).toISOString(), 'e-late'));
    expect(await track()).toMatchObject({ carrierPromise: endOfBerlinDay('2026-11-23') });
    // Webhooks are flowing (one came now): the quiet-webhooks promotion counts from this
    // delivery, and news received now brings no look forward to hours ago.
    const entry = await f.store.pollSchedule.get(TN);
    expect(entry?.lastWebhookAt).toBe(now);
    expect(entry?.nextPollAt).toBe(before?.nextPollAt);
  });

  it('finds the scan to revise by its hash, whatever the length of the number\'s history', async () => {
    await start();
    await hook(update);
    // The webhook costs one point lookup: reading the whole history per edd_revise would grow
    // with every scan and revision the number ever had.
    const whole = vi.spyOn(f.store.tracking, 'history');
    expect(await post(eddRevise('2026-11-23', '2026-11-21T09:00:30Z', 'e-1'))).toMatchObject({ status: 'accepted' });
    expect(whole).not.toHaveBeenCalled();
    whole.mockRestore();
    await f.services.tracking.applier.drain();
    expect(await track()).toMatchObject({ carrierPromise: endOfBerlinDay('2026-11-23') });
  });

  it('keeps the newer word when it repeats the promise held and an older edd_revise is delivered after it', async () => {
    await start();
    await hook(update);
    f.clock.advance(120_000);
    // The courier's promise confirmed (the one the scan carried), then an older revision retried.
    await hook(eddRevise('2026-11-21', '2026-11-21T09:01:00Z', 'e-newer-same'));
    f.clock.advance(60_000);
    await hook(eddRevise('2026-11-24', '2026-11-21T09:00:40Z', 'e-older'));
    expect(await track()).toMatchObject({ carrierPromise: endOfBerlinDay('2026-11-21') });
    expect((await rebuildTracking(f.store, f.clock, f.services.tracking.eta, { write: false })).differences).toEqual([]);
  });
});
