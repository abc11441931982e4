import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';
import { seededRandom } from '../testing/seeded-random.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { normalisedHash, orderKey } from './core/event-identity.js';
import { foldHistory } from './core/tracking-fold.js';
import { carrierPromiseEta } from './eta-seam.js';
import { rebuildTracking } from './rebuild-tracking.js';
import { trackingStatuses, type CanonicalTrackingEvent } from './tracking-event.js';

// The property, through the real intake and applier on both engines: any stream,
// replayed three times, shuffled, with duplicates and changed identifiers, split into
// payloads of any size and applied at any moments, ends in exactly the state and the
// history (as a set) of the clean stream, and its shipments get every notice that the clean
// stream, sent once in order to twin shipments, gets, and none twice.
// The clean stream's state is the fold of its events (tracking-fold.ts); each event of one
// status is more than the composite skew away from the next of that number.

const MIN = 60_000;
const engines = await testEngines('tracking replay property');

// Exceptions and recoveries weigh more: streams that end stuck, or get stuck twice, are
// where the exception notices can go wrong.
const arbStatus = fc.oneof({ arbitrary: fc.constantFrom(...trackingStatuses), weight: 3 }, { arbitrary: fc.constantFrom('exception' as const, 'in_transit' as const), weight: 2 });
const arbStream = fc.array(fc.record({ status: arbStatus, gap: fc.integer({ min: 3, max: 90 }), city: fc.constantFrom('Berlin', 'Kassel', 'Lyon'), promise: fc.boolean() }), {
  minLength: 1,
  maxLength: 10,
});

const STEPS_BEFORE_RETURN: ReadonlySet<string> = new Set(['shipment.shipped', 'shipment.out_for_delivery']);

describe.each(engines)('tracking replay property (real intake and applier on %s)', (engine) => {
  let f: BackendFixture;
  let run = 0;
  beforeAll(async () => {
    f = await makeBackend({ engine });
  });
  afterAll(() => f.close());

  /** Two shipments of one order, tracked under `numbers`. */
  const twoShipments = async (prefix: string, numbers: readonly string[]): Promise<void> => {
    const o = await paidOrder(f, `ord-${prefix}-${String(run)}`, [
      { lineId: 'l1', size: 'M' },
      { lineId: 'l2', size: 'M' },
    ]);
    // A locker of their own: shrinking runs the property hundreds of times.
    const lockerId = `lk-${prefix}-${String(run)}`;
    await f.services.lockers.register(lockerInput(lockerId, 52.52, 13.405, { M: 2 }));
    for (const [i, tn] of numbers.entries()) await ship(f, o.id, [`l${String(i + 1)}`], lockerId, 'M', tn);
  };
  /** A notice's kind, with when the trouble began for an exception notice (each time the parcel becomes stuck is told). */
  const told = (n: { kind: string; payload: Record<string, unknown> }): string => {
    const stuck = n.payload['stuck'] as { since: number } | undefined;
    return stuck === undefined ? n.kind : `${n.kind}#${String(stuck.since)}`;
  };
  /** The notices sent about each of `numbers`, as sorted kinds. */
  const noticeKinds = async (numbers: readonly string[]): Promise<string[][]> => {
    const notes = await f.store.notifications.list();
    return numbers.map((tn) => {
      const shipmentIds = new Set(notes.filter((n) => n.payload['trackingNumber'] === tn).map((n) => String(n.payload['shipmentId'])));
      return notes.filter((n) => shipmentIds.has(String(n.payload['shipmentId']))).map(told).sort();
    });
  };

  it('ends in the clean stream’s state, history and notices, none twice, however the stream is replayed', async () => {
    await fc.assert(
      fc.asyncProperty(arbStream, arbStream, fc.integer(), async (a, b, seed) => {
        run++;
        const numbers = [`PA-${String(run)}`, `PB-${String(run)}`];
        const twins = [`QA-${String(run)}`, `QB-${String(run)}`];
        await twoShipments('prop', numbers);
        await twoShipments('twin', twins);
        const base = f.clock.now() - 30 * 24 * 3_600_000;
        const clean: CanonicalTrackingEvent[] = [];
        for (const [i, spec] of [a, b].entries()) {
          let t = base;
          for (const [j, e] of spec.entries()) {
            t += e.gap * MIN;
            clean.push({ trackingNumber: numbers[i] as string, carrier: 'dhl', carrierEventId: `${numbers[i] as string}-c${String(j)}`, status: e.status, carrierStatus: e.status, eventTime: t, location: { city: e.city }, ...(e.promise ? { estimatedDeliveryAt: t + 86_400_000 } : {}) });
          }
        }
        // Three replays: the second with fresh ids, the third without ids; a few extra copies.
        const rnd = seededRandom(seed);
        const replay: CanonicalTrackingEvent[] = [...clean, ...clean.map((e) => ({ ...e, carrierEventId: `${String(e.carrierEventId)}-again` })), ...clean.map(({ carrierEventId: _drop, ...e }) => e)];
        for (let k = 0; k < clean.length; k++) if (rnd() < 0.3) replay.push(replay[Math.floor(rnd() * replay.length)] as CanonicalTrackingEvent);
        const shuffled = replay.map((e) => ({ e, r: rnd() })).sort((x, y) => x.r - y.r).map((x) => x.e);
        for (let i = 0; i < shuffled.length; ) {
          const size = 1 + Math.floor(rnd() * 8);
          await f.services.tracking.intake.accept({ source: rnd() < 0.5 ? 'canonical' : 'poll', body: '{}', receivedAt: f.clock.now() }, shuffled.slice(i, i + size));
          i += size;
          if (rnd() < 0.5) await f.services.tracking.applier.drain();
        }
        await f.services.tracking.applier.drain();
        // The twins get the clean stream once, in event order, one event at a time (under
        // other carrier ids: an id is the carrier's, whatever the number).
        for (const e of [...clean].sort((x, y) => x.eventTime - y.eventTime)) {
          await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, [{ ...e, trackingNumber: twins[numbers.indexOf(e.trackingNumber)] as string, carrierEventId: `twin-${String(e.carrierEventId)}` }]);
          await f.services.tracking.applier.drain();
        }

        /** The numbers stuck in an exception at the end: the customer must have heard of trouble. */
        const stuck = new Set<string>();
        for (const tn of numbers) {
          const mine = clean.filter((e) => e.trackingNumber === tn);
          const stored = await f.store.tracking.projection(tn);
          const expected = foldHistory(tn, 'dhl', mine.map((event) => ({ key: orderKey(event, normalisedHash(event)), hash: normalisedHash(event), event }))).projection;
          if (expected.status === 'exception') stuck.add(tn);
          expect(JSON.parse(JSON.stringify(stored?.projection))).toEqual(JSON.parse(JSON.stringify(expected)));
          const history = await f.store.tracking.history(tn);
          expect(history.map((h) => h.hash).sort()).toEqual(mine.map((e) => normalisedHash(e)).sort());
        }
        const notes = (await f.store.notifications.list()).filter((n) => numbers.includes(String(n.payload['trackingNumber'])));
        const perMilestone = notes.map((n) => `${told(n)}:${String(n.payload['shipmentId'])}`);
        expect(new Set(perMilestone).size).toBe(perMilestone.length);
        // Every notice of the clean stream, none twice. A replay may tell more: a milestone
        // reached while an earlier scan that makes it illegal had not arrived yet is told
        // then and cannot be taken back (the state still ends as the clean stream's). It may
        // tell fewer steps of a parcel returned to sender: a pickup scan arriving after the
        // return moves nothing and is not told (the customer already heard it is going back).
        // Exceptions are told when the parcel becomes stuck, as the batches show it, so how
        // many depends on arrival (trouble whose scans arrive after the parcel had recovered
        // is not told): each trouble at most once, and a parcel that ends stuck has had its
        // trouble told.
        const kinds = await noticeKinds(numbers);
        for (const [i, clean] of (await noticeKinds(twins)).entries()) {
          const mine = kinds[i] ?? [];
          const owed = (mine.includes('shipment.returned_to_sender') ? clean.filter((k) => !STEPS_BEFORE_RETURN.has(k)) : clean).filter((k) => !k.startsWith('tracking.exception#'));
          expect(mine).toEqual(expect.arrayContaining(owed));
          if (stuck.has(numbers[i] as string)) expect(mine.some((k) => k.startsWith('tracking.exception#'))).toBe(true);
        }
        for (const k of kinds) expect(new Set(k).size).toBe(k.length);
      }),
      { numRuns: engine === 'sqlite' ? 30 : 12 },
    );
    expect((await rebuildTracking(f.store, f.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
  }, 120_000);
});
