import { afterEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV_HASH, auditRecordHash, type AuditRecordWire } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { dropSchema, freshSchemaName, testEngines } from '../testing/pg-test-db.js';
import { recordingLogger } from '../testing/recording-logger.js';

// The database going away while an upload's records are mapped (a PostgreSQL query timeout,
// a dropped connection) is an outage, not a record the backend cannot act on. Before, the
// per-record catch logged audit.map_failed for every record the outage hit and acked them
// all unapplied; now the upload fails whole, nothing is acked, and the locker's resend
// applies it once the database answers.

const E = 'e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1';
const engines = await testEngines('audit ingest db unavailable');

function chain(events: Array<{ type: string; data: Record<string, unknown> }>, at: number): AuditRecordWire[] {
  let prev = GENESIS_PREV_HASH;
  return events.map((e, i) => {
    const seq = i + 1;
    const dataJson = JSON.stringify(e.data);
    const hash = auditRecordHash(prev, seq, at + i, e.type, dataJson);
    const rec: AuditRecordWire = { seq, at: at + i, type: e.type, lane: 'normal', dataJson, prevHash: prev, hash };
    prev = hash;
    return rec;
  });
}

describe.each(engines)('an audit upload while the database is unavailable (%s)', (engine) => {
  let f: BackendFixture;
  const schema = freshSchemaName();
  afterEach(async () => {
    await f.close();
    if (engine === 'postgres') await dropSchema(schema);
  });

  it('is not acked and logs no map_failed; the resend after recovery is stored, applied and acked', async () => {
    const rec = recordingLogger();
    f = await makeBackend(engine === 'postgres' ? { engine, pgSchema: schema, logger: rec.logger } : { engine, logger: rec.logger });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(f, 'ord-outage', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK-OUT');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const records = chain(
      [
        { type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: 'M1', assignedId: 'M1' } },
        { type: 'pickup.collected', data: { tokenId, compartmentId: 'M1', via: 'code', parcelId: s.id, door: 'opened' } },
      ],
      f.clock.now(),
    );

    // The mapping's reads go unanswered, as a frozen server's do (pg's query_timeout).
    const shipments = f.store.shipments;
    const get = shipments.get.bind(shipments);
    let down = true;
    shipments.get = (...args: Parameters<typeof get>) => (down ? Promise.reject(new Error('Query read timeout')) : get(...args));

    await expect(f.services.ingest.ingest('lk-a', E, records)).rejects.toThrow(/Query read timeout/);
    expect(rec.lines.filter((l) => l['msg'] === 'audit.map_failed')).toEqual([]);
    expect(await f.store.audit.contiguousSeq('lk-a', E)).toBe(0);

    down = false;
    const result = await f.services.ingest.ingest('lk-a', E, records);
    expect(result).toMatchObject({ contiguousSeq: 2, inserted: 2, duplicates: 0, chainBreaks: [] });
    expect((await f.services.shipments.get(s.id)).state).toBe('collected');
    expect(rec.lines.filter((l) => l['msg'] === 'audit.map_failed')).toEqual([]);
  });
});
