import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqliteExecutor } from '../store/sqlite/sqlite-executor.js';
import { sql } from '../store/sql/sql-text.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';

// The database file (and its WAL) never holds a keypad code in clear: not while the parcel
// travels, not in the outbox before the notice goes out, not after.

function databaseBytes(f: BackendFixture): string {
  const path = f.config.db.path;
  const parts = [readFileSync(path)];
  if (existsSync(`${path}-wal`)) parts.push(readFileSync(`${path}-wal`));
  return Buffer.concat(parts).toString('latin1');
}

const pendingCodeOf = sql('SELECT pending_code FROM shipments WHERE id = ?');

async function pendingCode(f: BackendFixture, shipmentId: string): Promise<string | null | undefined> {
  return (await f.store.x.one<{ pending_code: string | null }>(pendingCodeOf, [shipmentId]))?.pending_code;
}

describe('keypad codes at rest', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  it('keeps the pickup code sealed from shipment creation to the notice, then wipes it from the row', async () => {
    const order = await paidOrder(f, 'order-at-rest-1', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, order.id, ['l1'], 'lk-a', 'M', 'TRK-REST-1');
    expect(await pendingCode(f, s.id)).toMatch(/^gcm1\./);
    const whileInTransit = databaseBytes(f);

    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    expect(await pendingCode(f, s.id)).toBeNull();
    const queued = (await f.store.notifications.list({ kind: 'parcel.ready_for_pickup' }))[0];
    expect(queued?.payload['code']).toMatch(/^gcm1\./);
    const beforeSending = databaseBytes(f);

    await f.services.outbox.drain();
    const sent = f.inbox.sent.find((n) => n.kind === 'parcel.ready_for_pickup');
    const code = sent?.payload['code'];
    expect(code).toMatch(/^\d{8}$/);
    // The fixture's store is the embedded engine: fold the WAL into the file to read it whole.
    (f.store.x as SqliteExecutor).db.pragma('wal_checkpoint(TRUNCATE)');
    const afterSending = databaseBytes(f);
    for (const bytes of [whileInTransit, beforeSending, afterSending]) expect(bytes.includes(code as string)).toBe(false);
    expect((await f.store.notifications.list({ kind: 'parcel.ready_for_pickup' }))[0]?.payload['code']).toBe('[sent]');
  });

  it('seals the return drop-off code in the outbox and hands it to the customer in clear', async () => {
    const order = await paidOrder(f, 'order-at-rest-2', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, order.id, ['l1'], 'lk-a', 'M', 'TRK-REST-2');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.parcels.collected(s.id, 'lk-a', { actor: 'locker' });
    await f.services.parcels.requestReturn(s.id, 'lk-a', { actor: 'customer' });
    const queued = (await f.store.notifications.list()).find((n) => typeof n.payload['code'] === 'string' && n.kind !== 'parcel.ready_for_pickup');
    expect(queued?.payload['code']).toMatch(/^gcm1\./);
    const beforeSending = databaseBytes(f);
    await f.services.outbox.drain();
    const code = f.inbox.sent.find((n) => n.id === queued?.id)?.payload['code'];
    expect(code).toMatch(/^\d{8}$/);
    expect(beforeSending.includes(code as string)).toBe(false);
  });
});
