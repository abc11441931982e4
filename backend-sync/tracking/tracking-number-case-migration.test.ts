import { hash as digest } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { openRawDb, setSchemaVersion, withHistoryWritable, type RawDb } from '../testing/earlier-release-db.js';
import { acceptAndApply, noticesOf, scanAt } from '../testing/backend-tracking.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { dropSchema, freshSchemaName, testEngines, type EngineName } from '../testing/pg-test-db.js';
import { scan } from '../testing/tracking-helpers.js';
import { emptyProjection } from './core/tracking-fold.js';
import { normalisedHash, promiseRevisionHash } from './core/event-identity.js';
import { rebuildTracking } from './rebuild-tracking.js';
import type { CanonicalTrackingEvent } from './tracking-event.js';

// Earlier releases stored tracking numbers as typed: a merchant's `1z…` had a timeline of
// its own beside the carrier's `1Z…`, and GET /track (capitals) missed it. The migration
// (SQLite step 25, PostgreSQL step 23) merges them and the backend refolds the merged
// numbers before it serves. Each test builds the database a backend of the earlier release
// left (schema one step back, rows in small letters written as that release wrote them:
// hashed over the small-letter number), starts today's backend on it, and reads the result.

const engines = await testEngines('tracking numbers stored in small letters');
const UP = '1Z999AA10123456784';
const LOW = UP.toLowerCase();
const LONE = 'jd0146000062';
const PREVIOUS: Record<EngineName, number> = { sqlite: 24, postgres: 22 };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A history row as the earlier release appended it: the event and its hash over the number as stored. */
async function appendOld(db: RawDb, e: CanonicalTrackingEvent, receivedAt: number): Promise<string> {
  const hash = normalisedHash(e);
  await db.run(
    `INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES (?, ?, ?, ?, 'canonical', 'p-old', ?, ?)`,
    [e.trackingNumber, hash, e.status, e.eventTime, receivedAt, JSON.stringify(e)],
  );
  return hash;
}

describe.each(engines)('tracking numbers stored in small letters by an earlier release (%s)', (engine) => {
  async function fixture(dir: string, schema: string): Promise<BackendFixture> {
    return makeBackend(engine === 'postgres' ? { dir, engine, pgSchema: schema } : { dir });
  }

  /** A fresh database file (SQLite) or schema (PostgreSQL), removed after the test. */
  function place(): { dir: string; schema: string } {
    const dir = mkdtempSync(join(tmpdir(), 'case-migration-'));
    const schema = freshSchemaName();
    cleanups.push(async () => {
      rmSync(dir, { recursive: true, force: true });
      if (engine === 'postgres') await dropSchema(schema);
    });
    return { dir, schema };
  }

  /** The database put back one schema step, as the earlier release left it, open for writing its rows. */
  async function asEarlierRelease(dir: string, schema: string): Promise<RawDb> {
    const db = await openRawDb(engine, { dir, schema });
    await db.run('DROP TABLE IF EXISTS tracking_refold_pending');
    // Added by the step after (an edd_revise's revision time): that release had no such column.
    await db.run('ALTER TABLE tracking_inbox DROP COLUMN revised_at');
    await setSchemaVersion(db, PREVIOUS[engine]);
    return db;
  }

  it('are merged into their capital twin: GET /track serves the whole timeline once, with no notice told again, and a rebuild finds nothing', async () => {
    const { dir, schema } = place();

    // The earlier release at work: the carrier's scans came in capitals...
    const old = await fixture(dir, schema);
    await old.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(old, 'ord-case-mig', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(old, o.id, ['l1'], 'lk-a', 'M', UP);
    const label = scanAt(old, 0);
    const transit = scanAt(old, 60);
    const ofd = scanAt(old, 120);
    await acceptAndApply(old, [scan(UP, 'in_transit', transit)]);
    const noticesBefore = (await old.store.notifications.list({})).filter((n) => n.payload['shipmentId'] === s.id).length;
    const now = old.clock.now();
    await old.close();

    // ...while the merchant's spelling, stored as typed, kept a timeline of its own.
    const db = await asEarlierRelease(dir, schema);
    await db.run('UPDATE shipments SET tracking_number = ? WHERE id = ?', [LOW, s.id]);
    await withHistoryWritable(db, async () => {
      await appendOld(db, scan(LOW, 'label_created', label), now - 1_000);
      // The same scan under both spellings: one row once merged.
      await appendOld(db, scan(LOW, 'in_transit', transit), now - 900);
      await appendOld(db, scan(LONE, 'in_transit', transit), now - 800);
    });
    for (const tn of [LOW, LONE]) {
      await db.run('INSERT INTO tracking_state (tracking_number, carrier, status, state_json, version, updated_at) VALUES (?, ?, ?, ?, 1, ?)', [tn, 'ups', null, JSON.stringify(emptyProjection(tn, 'ups')), now]);
      await db.run(`INSERT INTO tracking_read (tracking_number, doc_json, etag, updated_at) VALUES (?, '{}', '"old"', ?)`, [tn, now]);
    }
    await db.run(`INSERT INTO tracking_review (hash, tracking_number, from_status, to_status, event_time, reason, flagged_at) VALUES ('old-flag', ?, NULL, 'in_transit', ?, 'old', ?)`, [LOW, transit, now]);
    const upperPoll = (await db.all<{ next_poll_at: number | string | null }>('SELECT next_poll_at FROM tracking_poll_schedule WHERE tracking_number = ?', [UP]))[0]?.next_poll_at;
    const earliest = Number(upperPoll ?? now + 3_600_000) - 600_000;
    await db.run(`INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, last_event_at, created_at, mode, next_poll_at, failures, lease_until) VALUES (?, 'ups', 'label_created', ?, ?, 'webhook', ?, 2, ?)`, [LOW, label, now - 5_000, earliest, now + 60_000]);
    // A scan in the merchant's spelling still waiting in the inbox.
    await db.run(`INSERT INTO tracking_inbox (tracking_number, payload_id, source, event_json, received_at) VALUES (?, 'p-old', 'canonical', ?, ?)`, [LOW, JSON.stringify(scan(LOW, 'out_for_delivery', ofd)), now]);
    await db.close();

    // Today's release starts on it: migrated, and refolded before it serves.
    const f = await fixture(dir, schema);
    cleanups.push(() => f.close());
    const app = await f.app();
    const page = (await app.inject({ method: 'GET', url: `/track/${UP}` })).json<{ status: string; history: Array<{ status: string }> }>();
    expect(page.status).toBe('in_transit');
    expect(page.history.map((h) => h.status).sort()).toEqual(['in_transit', 'label_created']);
    expect((await app.inject({ method: 'GET', url: `/track/${LONE}` })).json<{ status: string }>().status).toBe('in_transit');
    const raw = await openRawDb(engine, { dir, schema });
    cleanups.push(() => raw.close());
    // One poll entry: the earliest planned poll of either spelling, no lease of the old release's.
    const polls = await raw.all<{ tracking_number: string; next_poll_at: number | string | null; lease_until: number | string | null; failures: number }>(
      'SELECT tracking_number, next_poll_at, lease_until, failures FROM tracking_poll_schedule WHERE upper(tracking_number) = ?',
      [UP],
    );
    expect(polls.map((p) => ({ ...p, next_poll_at: Number(p.next_poll_at) }))).toEqual([{ tracking_number: UP, next_poll_at: earliest, lease_until: null, failures: 0 }]);
    // The scan that waited in the inbox joins the merged timeline and moves the shipment, told once.
    await f.services.tracking.applier.drain();
    const after = (await app.inject({ method: 'GET', url: `/track/${LOW}` })).json<{ trackingNumber: string; status: string; history: Array<{ status: string }> }>();
    expect(after.trackingNumber).toBe(UP);
    expect(after.status).toBe('out_for_delivery');
    expect(after.history.map((h) => h.status).sort()).toEqual(['in_transit', 'label_created', 'out_for_delivery']);
    expect(await noticesOf(f, 'shipment.out_for_delivery', s.id)).toHaveLength(1);
    expect((await f.store.notifications.list({})).filter((n) => n.payload['shipmentId'] === s.id)).toHaveLength(noticesBefore + 1);

    // One row per scan, every row in capitals and hashed as today's applier hashes it.
    const rows = await raw.all<{ tracking_number: string; hash: string; status: string; event_json: string }>('SELECT tracking_number, hash, status, event_json FROM tracking_history ORDER BY seq');
    expect(rows.filter((r) => r.tracking_number === UP).map((r) => r.status).sort()).toEqual(['in_transit', 'label_created', 'out_for_delivery']);
    expect(rows.every((r) => r.tracking_number === r.tracking_number.toUpperCase())).toBe(true);
    expect(rows.find((r) => r.status === 'label_created')?.hash).toBe(normalisedHash(scan(UP, 'label_created', label)));
    expect(rows.every((r) => (JSON.parse(r.event_json) as { trackingNumber: string }).trackingNumber === r.tracking_number)).toBe(true);
    // The shipment in capitals, no stale rows or flags of the small spelling.
    expect(await raw.all('SELECT tracking_number FROM shipments WHERE id = ?', [s.id])).toEqual([{ tracking_number: UP }]);
    for (const t of ['tracking_state', 'tracking_read', 'tracking_review', 'tracking_inbox']) {
      expect(await raw.all(`SELECT tracking_number FROM ${t} WHERE tracking_number <> upper(tracking_number)`)).toEqual([]);
    }
    expect(await raw.all('SELECT tracking_number FROM tracking_refold_pending')).toEqual([]);
    // History is append-only again.
    await expect(raw.run('UPDATE tracking_history SET status = status')).rejects.toThrow(/append-only/);

    // The rebuild agrees with what the start-up refold and the applier left.
    const report = await rebuildTracking(f.store, f.clock, f.services.tracking.eta, { write: false });
    expect(report.differences).toEqual([]);
  });

  it('merges every shape an earlier release could leave: a number only in small letters, two small spellings beside the capitals, derived rows and poll entries under all three, a capital twin hashed the old way', async () => {
    const { dir, schema } = place();
    const first = await fixture(dir, schema);
    const now = first.clock.now();
    await first.close();

    const MIX = '1ZA9990001';
    const spellings = [MIX, '1za9990001', '1zA9990001'];
    const ONLY = '1zb7770002';
    const t = now - 10 * 3_600_000;
    const db = await asEarlierRelease(dir, schema);
    // The capital twin's label scan came with a carrier promise while the hash still covered
    // it (event-identity.ts: rows hashed before that change keep their old hash).
    const promised = scan(MIX, 'label_created', t, { estimatedDeliveryAt: t + 86_400_000 });
    const oldHash = digest('sha256', JSON.stringify([normalisedHash(promised), promised.estimatedDeliveryAt]), 'hex').slice(0, 32);
    await withHistoryWritable(db, async () => {
      await db.run(
        `INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES (?, ?, ?, ?, 'canonical', 'p-old', ?, ?)`,
        [MIX, oldHash, promised.status, promised.eventTime, now - 2_000, JSON.stringify(promised)],
      );
      // The same label scan under the small spelling, with its promise too.
      await appendOld(db, scan('1za9990001', 'label_created', t, { estimatedDeliveryAt: t + 86_400_000 }), now - 1_900);
      // One in-transit scan under both small spellings, and a revised promise on one of them.
      const lowTransit = scan('1za9990001', 'in_transit', t + 60_000);
      const lowHash = await appendOld(db, lowTransit, now - 1_800);
      await appendOld(db, scan('1zA9990001', 'in_transit', t + 60_000), now - 1_700);
      const revised = { ...lowTransit, estimatedDeliveryAt: t + 2 * 86_400_000 };
      await db.run(
        `INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES (?, ?, ?, ?, 'canonical', 'p-old', ?, ?)`,
        [revised.trackingNumber, promiseRevisionHash(lowHash, now - 1_600, revised.estimatedDeliveryAt), revised.status, revised.eventTime, now - 1_600, JSON.stringify(revised)],
      );
      await appendOld(db, scan(ONLY, 'in_transit', t), now - 1_500);
    });
    for (const [i, tn] of [...spellings, ONLY].entries()) {
      await db.run('INSERT INTO tracking_state (tracking_number, carrier, status, state_json, version, updated_at) VALUES (?, ?, ?, ?, 1, ?)', [tn, 'ups', null, JSON.stringify(emptyProjection(tn, 'ups')), now]);
      await db.run(`INSERT INTO tracking_read (tracking_number, doc_json, etag, updated_at) VALUES (?, '{}', '"old"', ?)`, [tn, now]);
      await db.run(`INSERT INTO tracking_review (hash, tracking_number, from_status, to_status, event_time, reason, flagged_at) VALUES (?, ?, NULL, 'in_transit', ?, 'old', ?)`, [`flag-${String(i)}`, tn, t, now]);
      await db.run(`INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, last_event_at, created_at, mode, next_poll_at, failures, lease_until) VALUES (?, 'ups', 'in_transit', ?, ?, 'webhook', ?, ?, NULL)`, [tn, t + i, now - 5_000, now + (i + 1) * 60_000, i]);
    }
    await db.close();

    const f = await fixture(dir, schema);
    cleanups.push(() => f.close());
    const app = await f.app();
    // Every scan once: the label its capital twin holds under its old hash is not stored twice.
    const page = (await app.inject({ method: 'GET', url: `/track/${MIX}` })).json<{ status: string; history: Array<{ status: string }> }>();
    expect(page.status).toBe('in_transit');
    expect(page.history.map((h) => h.status).sort()).toEqual(['in_transit', 'label_created']);
    expect((await app.inject({ method: 'GET', url: `/track/${ONLY}` })).json<{ status: string }>().status).toBe('in_transit');
    const raw = await openRawDb(engine, { dir, schema });
    cleanups.push(() => raw.close());
    const rows = await raw.all<{ tracking_number: string; status: string }>('SELECT tracking_number, status FROM tracking_history WHERE upper(tracking_number) = ? ORDER BY seq', [MIX]);
    expect(rows.map((r) => r.status).sort()).toEqual(['in_transit', 'in_transit', 'label_created']); // the scan once, its revision once
    expect(rows.every((r) => r.tracking_number === MIX)).toBe(true);
    const polls = await raw.all<{ tracking_number: string; next_poll_at: number | string }>('SELECT tracking_number, next_poll_at FROM tracking_poll_schedule ORDER BY tracking_number');
    expect(polls.map((p) => [p.tracking_number, Number(p.next_poll_at)])).toEqual([
      [MIX, now + 60_000],
      [ONLY.toUpperCase(), now + 4 * 60_000],
    ]);
    for (const tb of ['tracking_state', 'tracking_read']) {
      expect((await raw.all<{ tracking_number: string }>(`SELECT tracking_number FROM ${tb} ORDER BY tracking_number`)).map((r) => r.tracking_number)).toEqual([MIX, ONLY.toUpperCase()]);
    }
    expect(await raw.all(`SELECT hash FROM tracking_review WHERE hash LIKE 'flag-%'`)).toEqual([]);
    expect(await raw.all('SELECT tracking_number FROM tracking_refold_pending')).toEqual([]);
    const report = await rebuildTracking(f.store, f.clock, f.services.tracking.eta, { write: false });
    expect(report.differences).toEqual([]);
  });

  it('spells a number with a letter outside ASCII the same way in every table (the engine’s upper()), not merged into another parcel', async () => {
    const { dir, schema } = place();
    const first = await fixture(dir, schema);
    const now = first.clock.now();
    await first.close();
    // Typed by a merchant before the intake took ASCII only: JavaScript's capitals of `ß`
    // are `SS`, neither engine's upper() changes it.
    const ODD = '1zß4440003';
    const db = await asEarlierRelease(dir, schema);
    await withHistoryWritable(db, async () => {
      await appendOld(db, scan(ODD, 'in_transit', now - 3_600_000), now - 1_000);
    });
    await db.run(`INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, last_event_at, created_at, mode, next_poll_at, failures, lease_until) VALUES (?, 'ups', 'in_transit', ?, ?, 'webhook', ?, 0, NULL)`, [ODD, now - 3_600_000, now - 5_000, now + 60_000]);
    await db.run(`INSERT INTO tracking_inbox (tracking_number, payload_id, source, event_json, received_at) VALUES (?, 'p-old', 'canonical', ?, ?)`, [ODD, JSON.stringify(scan(ODD, 'out_for_delivery', now - 60_000)), now]);
    await db.close();

    const f = await fixture(dir, schema);
    cleanups.push(() => f.close());
    const raw = await openRawDb(engine, { dir, schema });
    cleanups.push(() => raw.close());
    const spelled = async (t: string): Promise<string[]> => (await raw.all<{ tracking_number: string }>(`SELECT DISTINCT tracking_number FROM ${t}`)).map((r) => r.tracking_number);
    const poll = await spelled('tracking_poll_schedule');
    expect(poll).toHaveLength(1);
    // Its history row's text is refused today (ASCII only), so it stays as stored; the waiting scan is capitalised with the rest.
    expect(await spelled('tracking_history')).toEqual([ODD]);
    expect(await spelled('tracking_inbox')).toEqual(poll);
    // Nothing joined the timeline of `1ZSS4440003`, another parcel's number today's intake takes.
    expect(await raw.all('SELECT tracking_number FROM tracking_history WHERE tracking_number = ?', ['1ZSS4440003'])).toEqual([]);
    // Nothing readable under the capitals to fold: taken off the list (the rebuild reports the row left as stored).
    expect(await spelled('tracking_refold_pending')).toEqual([]);
  });

  it.runIf(engine === 'postgres')('waits for a write an instance of the earlier release has in flight, and capitalises it too', async () => {
    const { dir, schema } = place();
    const first = await fixture(dir, schema);
    const now = first.clock.now();
    await first.close();
    const db = await asEarlierRelease(dir, schema);
    await db.close();

    // An old instance still running (docs/operations.md says stop them; a forgotten one is
    // the 3 a.m. case): its applier's transaction appends a small-letter scan and has not
    // committed when the new instance starts migrating.
    const old = await openRawDb(engine, { dir, schema });
    cleanups.push(() => old.close());
    const LATE = '1zc5550004';
    await old.run('BEGIN');
    await appendOld(old, scan(LATE, 'in_transit', now - 60_000), now);
    await old.run(`INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, last_event_at, created_at, mode, next_poll_at, failures, lease_until) VALUES (?, 'ups', 'in_transit', ?, ?, 'webhook', ?, 0, NULL)`, [LATE, now - 60_000, now, now + 60_000]);
    const starting = fixture(dir, schema);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await old.run('COMMIT');
    const f = await starting;
    cleanups.push(() => f.close());

    const raw = await openRawDb(engine, { dir, schema });
    cleanups.push(() => raw.close());
    for (const t of ['tracking_history', 'tracking_poll_schedule']) {
      expect(await raw.all(`SELECT tracking_number FROM ${t} WHERE tracking_number <> upper(tracking_number)`)).toEqual([]);
    }
    const app = await f.app();
    expect((await app.inject({ method: 'GET', url: `/track/${LATE}` })).json<{ status: string }>().status).toBe('in_transit');
  });

  it('keeps serving a capital timeline when a small-letter row of its number no longer reads: that row stays as stored', async () => {
    const { dir, schema } = place();
    const GOOD = '1ZD6660005';
    const old = await fixture(dir, schema);
    const now = old.clock.now();
    await acceptAndApply(old, [scan(GOOD, 'in_transit', now - 3_600_000)]);
    await old.close();
    const db = await asEarlierRelease(dir, schema);
    // Text an earlier release wrote that today's event schema refuses (a status since renamed).
    const unreadable = JSON.stringify({ trackingNumber: GOOD.toLowerCase(), carrier: 'ups', status: 'held_at_depot', eventTime: now - 1_800_000 });
    await withHistoryWritable(db, async () => {
      await db.run(
        `INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES (?, 'h-unreadable', 'held_at_depot', ?, 'canonical', 'p-old', ?, ?)`,
        [GOOD.toLowerCase(), now - 1_800_000, now - 1_000, unreadable],
      );
    });
    await db.close();

    const f = await fixture(dir, schema);
    cleanups.push(() => f.close());
    const app = await f.app();
    // Served before the upgrade, served after it.
    expect((await app.inject({ method: 'GET', url: `/track/${GOOD}` })).json<{ status: string }>().status).toBe('in_transit');
    const raw = await openRawDb(engine, { dir, schema });
    cleanups.push(() => raw.close());
    // The unreadable row is kept, as stored, for an operator.
    expect(await raw.all('SELECT tracking_number, event_json FROM tracking_history WHERE hash = ?', ['h-unreadable'])).toEqual([{ tracking_number: GOOD.toLowerCase(), event_json: unreadable }]);
    expect(await raw.all('SELECT tracking_number FROM tracking_refold_pending')).toEqual([]);
  });
});
