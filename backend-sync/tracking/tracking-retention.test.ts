import { afterEach, describe, expect, it } from 'vitest';
import { sql } from '../store/sql/sql-text.js';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

// Raw provider bodies go after tracking.rawRetentionMs; the canonical history stays.

const DAY = 86_400_000;

describe('tracking raw retention', () => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  it('deletes raw payloads and dead letters 90 days after they were received, through the sweeper, and keeps the history', async () => {
    const b = await makeBackend();
    f = b;
    const raw = { source: 'canonical' as const, body: '{"events":[1]}', receivedAt: b.clock.now() };
    await b.services.tracking.intake.accept(raw, [{ trackingNumber: 'TRK-RET', carrier: 'dhl', status: 'picked_up', carrierStatus: 'PU', eventTime: b.clock.now() - 1000 }]);
    await b.services.tracking.intake.deadLetter({ ...raw, body: '{bad' }, 'not JSON');
    const payloads = async (): Promise<number> => (await b.store.x.all<{ id: string }>(sql('SELECT id FROM tracking_payloads'))).length;
    await b.services.sweeper.tick();
    expect([await payloads(), (await b.store.tracking.deadLetters()).length, (await b.store.tracking.history('TRK-RET')).length]).toEqual([1, 1, 1]);

    b.clock.advance(90 * DAY);
    await b.services.sweeper.tick();
    expect([await payloads(), (await b.store.tracking.deadLetters()).length]).toEqual([1, 1]);
    b.clock.advance(1);
    await b.services.sweeper.tick();
    expect([await payloads(), (await b.store.tracking.deadLetters()).length, (await b.store.tracking.history('TRK-RET')).length]).toEqual([0, 0, 1]);
  });

  it('recognises a scan a provider resends after the id and composite windows by its hash, even without the promise it first came with', async () => {
    const b = await makeBackend();
    f = b;
    const scan = { trackingNumber: 'TRK-LONG', carrier: 'usps', status: 'in_transit' as const, carrierStatus: 'in_transit:arrived_at_facility', eventTime: b.clock.now() - 1000 };
    const send = async (events: Parameters<typeof b.services.tracking.intake.accept>[1]): Promise<void> => {
      await b.services.tracking.intake.accept({ source: 'easypost', body: '{}', receivedAt: b.clock.now() }, events);
      await b.services.tracking.applier.drain();
    };
    // The newest scan carries the tracker's promise...
    await send([{ ...scan, estimatedDeliveryAt: b.clock.now() + 3 * DAY }]);
    // ...and 31 days on (a long journey, a replay after an incident) the whole history comes
    // again with a newer scan, which carries the promise now.
    b.clock.advance(31 * DAY);
    await send([scan, { ...scan, status: 'out_for_delivery', carrierStatus: 'out_for_delivery', eventTime: b.clock.now() - 1000, estimatedDeliveryAt: b.clock.now() + DAY }]);
    expect((await b.store.tracking.history('TRK-LONG')).map((h) => h.event.status)).toEqual(['in_transit', 'out_for_delivery']);
    expect(b.services.tracking.metrics.dedupeHits.payload_hash).toBe(1);
  });
});
