import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBackendError } from '../../shared/errors.js';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines, waitForLockWait } from '../../testing/pg-test-db.js';
import { SqlReservationRepository } from '../sql/reservation-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';

// The reservation repository's contract, on every engine: the conditional claim, lazy
// release of lapsed holds, and the database's own refusal of a second live reservation
// on one compartment.

const dir = mkdtempSync(join(tmpdir(), 'res-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('reservation repository contract');
const T = 1_800_000_000_000;

const addLocker = sql(
  `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
   VALUES (@id, 'L', 52.5, 13.4, '{}', '{}', 'operating', @pepper, @at)`,
);
const addCompartment = sql(
  `INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state) VALUES (?, ?, 'M', 400, 200, 600, 'free')`,
);

describe.each(engines)('ReservationRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let schema: string | undefined;
  let repo: SqlReservationRepository;

  beforeEach(async () => {
    ({ x, dispose, schema } = await openTestExecutor(engine, dir));
    repo = new SqlReservationRepository(x);
    await x.run(addLocker, { id: 'lk', pepper: Buffer.alloc(32, 1), at: T });
    for (let i = 0; i < 10; i++) await x.run(addCompartment, ['lk', `M${String(i).padStart(2, '0')}`]);
  });
  afterEach(() => dispose());

  const claim = (id: string, expiresAt = T + 60_000) =>
    repo.claim({ id, orderRef: `o-${id}`, lockerId: 'lk', size: 'M', status: 'held', expiresAt, now: T, offlineCutoff: T - 1 });

  it('claims each free compartment once, then reports none free', async () => {
    const got = [];
    for (let i = 0; i < 11; i++) got.push(await claim(`r${String(i)}`));
    expect(got.slice(0, 10).map((r) => r?.compartmentId)).toEqual(Array.from({ length: 10 }, (_, i) => `M${String(i).padStart(2, '0')}`));
    expect(got[10]).toBeUndefined();
    expect((await repo.get('r3'))?.status).toBe('held');
  });

  it('1,000 concurrent claims for 10 compartments: exactly 10 succeed, each on its own compartment', async () => {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => x.transaction(() => claim(`c${String(i)}`)).catch((err: unknown) => err)),
    );
    const ok = results.filter((r): r is { compartmentId: string } => typeof r === 'object' && r !== null && 'compartmentId' in r);
    expect(ok).toHaveLength(10);
    expect(new Set(ok.map((r) => r.compartmentId)).size).toBe(10);
    expect(results.filter((r) => r instanceof Error)).toEqual([]);
  });

  // The checkout reads the locker only after a claim took nothing (to say why), so the
  // claim itself must refuse a locker that is not operating or has been offline too long.
  it('takes nothing at a locker that is not operating, or offline since before the cutoff, and inserts no reservation', async () => {
    await x.run(sql(`UPDATE lockers SET status = 'out_of_service' WHERE id = 'lk'`));
    expect(await claim('closed')).toBeUndefined();
    await x.run(sql(`UPDATE lockers SET status = 'operating', offline_since = ? WHERE id = 'lk'`), [T - 2]);
    expect(await claim('gone')).toBeUndefined();
    await x.run(sql(`UPDATE lockers SET offline_since = ? WHERE id = 'lk'`), [T]);
    expect((await claim('within-grace'))?.compartmentId).toBe('M00');
    expect(await repo.get('closed')).toBeUndefined();
    expect(await repo.get('gone')).toBeUndefined();
    expect((await x.one<{ n: number }>(sql(`SELECT count(*) AS n FROM compartments WHERE state = 'held'`)))?.n).toBe(1);
  });

  it('a lapsed hold goes back to the pool when nothing else is free', async () => {
    for (let i = 0; i < 10; i++) await claim(`h${String(i)}`, T + (i === 4 ? -1 : 60_000));
    const again = await claim('late');
    expect(again?.compartmentId).toBe('M04');
    expect((await repo.get('h4'))?.status).toBe('expired');
  });

  it('purges abandoned holds (expired or released, no order) past the cutoff, oldest first; keeps the rest', async () => {
    const DAY = 86_400_000;
    const add = sql(
      `INSERT INTO reservations (id, order_ref, locker_id, size, compartment_id, status, expires_at, order_id, created_at, updated_at)
       VALUES (?, 'o', 'lk', 'M', ?, ?, ?, ?, ?, ?)`,
    );
    const rows: Array<[string, string, string | null, number]> = [
      ['old-released', 'released', null, T - 35 * DAY],
      ['old-expired', 'expired', null, T - 40 * DAY],
      ['old-order-released', 'released', 'ord-1', T - 50 * DAY],
      ['old-consumed', 'consumed', 'ord-2', T - 50 * DAY],
      ['recent-expired', 'expired', null, T - DAY],
      ['live-hold', 'held', null, T - 50 * DAY],
    ];
    for (const [i, [id, status, orderId, at]] of rows.entries()) await x.run(add, [id, `M0${String(i)}`, status, at + 60_000, orderId, at, at]);
    const left = async (): Promise<string[]> => (await x.all<{ id: string }>(sql(`SELECT id FROM reservations ORDER BY id`))).map((r) => r.id);
    expect(await repo.purgeAbandoned(T - 30 * DAY, 1)).toBe(1);
    expect(await repo.get('old-expired')).toBeUndefined();
    expect(await repo.purgeAbandoned(T - 30 * DAY, 100)).toBe(1);
    expect(await repo.purgeAbandoned(T - 30 * DAY, 100)).toBe(0);
    expect(await left()).toEqual(['live-hold', 'old-consumed', 'old-order-released', 'recent-expired']);
  });

  it('the database refuses a second live reservation on one compartment', async () => {
    await claim('first');
    const dup = sql(
      `INSERT INTO reservations (id, order_ref, locker_id, size, compartment_id, status, expires_at, created_at, updated_at)
       VALUES ('forged', 'o', 'lk', 'M', 'M00', 'held', ?, ?, ?)`,
    );
    await expect(x.run(dup, [T + 1, T, T])).rejects.toThrow(/unique|UNIQUE/);
    expect(await repo.release('first', 'released', T)).toBe(true);
    await expect(x.run(dup, [T + 1, T, T])).resolves.toBe(1);
  });

  it('confirm reserves the held compartment by its key, and a lapsed or confirmed hold confirms nothing', async () => {
    await claim('to-confirm');
    await claim('lapsed', T - 1);
    expect(await x.transaction(() => repo.confirm('to-confirm', 'ord-1', T))).toBe(true);
    expect(await repo.confirm('to-confirm', 'ord-2', T)).toBe(false);
    expect(await repo.confirm('lapsed', 'ord-3', T)).toBe(false);
    const states = await x.all<{ id: string; state: string; reservation_id: string | null }>(
      sql(`SELECT id, state, reservation_id FROM compartments WHERE state <> 'free' ORDER BY id`),
    );
    expect(states).toEqual([
      { id: 'M00', state: 'reserved', reservation_id: 'to-confirm' },
      { id: 'M01', state: 'held', reservation_id: 'lapsed' },
    ]);
    expect(await repo.get('to-confirm')).toMatchObject({ status: 'confirmed', orderId: 'ord-1' });
  });

  it('release is conditional: the second one changes nothing', async () => {
    await claim('once');
    expect(await repo.release('once', 'released', T)).toBe(true);
    expect(await repo.release('once', 'expired', T)).toBe(false);
    expect((await repo.get('once'))?.status).toBe('released');
  });

  // A repaired door with the parcel inside takes the reservation back: the door it leaves
  // is freed, but never when another reservation has meanwhile been given that door.
  it('repoint frees the door it leaves only while that door still names the reservation', async () => {
    const doorOf = async (id: string) => x.one<{ state: string; reservation_id: string | null }>(sql(`SELECT state, reservation_id FROM compartments WHERE locker_id = 'lk' AND id = ?`), [id]);
    await claim('moved');
    expect(await repo.confirm('moved', 'ord-moved', T)).toBe(true);
    expect(await doorOf('M00')).toEqual({ state: 'reserved', reservation_id: 'moved' });
    expect(await repo.repoint('moved', 'M05', T + 1)).toBe(true);
    expect((await repo.get('moved'))?.compartmentId).toBe('M05');
    expect(await doorOf('M00')).toEqual({ state: 'free', reservation_id: null });

    // A door whose row names another reservation keeps it.
    await claim('second');
    expect((await repo.get('second'))?.compartmentId).toBe('M00');
    await x.run(sql(`UPDATE compartments SET reservation_id = 'someone-else' WHERE locker_id = 'lk' AND id = 'M00'`));
    expect(await repo.repoint('second', 'M07', T + 2)).toBe(true);
    expect(await doorOf('M00')).toEqual({ state: 'held', reservation_id: 'someone-else' });

    expect(await repo.release('moved', 'released', T + 3)).toBe(true);
    expect(await repo.repoint('moved', 'M06', T + 4)).toBe(false);
    expect((await repo.get('moved'))?.compartmentId).toBe('M05');
  });

  it('a nested transaction that throws undoes only its own part', async () => {
    await x.transaction(async () => {
      await claim('outer');
      await x.transaction(async () => {
        await claim('inner');
        throw new Error('inner fails');
      }).catch(() => undefined);
    });
    expect(await repo.get('outer')).toBeDefined();
    expect(await repo.get('inner')).toBeUndefined();
  });

  // The checkout's one idempotent hold (PostgreSQL: one statement without BEGIN/COMMIT).
  const hold = (id: string, key = `key-${id}`, hash = 'h1') =>
    repo.holdIdempotent({
      id,
      orderRef: `o-${id}`,
      lockerId: 'lk',
      size: 'M',
      expiresAt: T + 60_000,
      now: T,
      offlineCutoff: T - 1,
      scope: 'reservation',
      key,
      requestHash: hash,
      statusCode: 201,
      response: { before: `{"id":"${id}","compartmentId":`, after: '}' },
    });
  const count = async (text: string, params: string[] = []): Promise<number> => Number((await x.one<{ n: number | string }>(sql(text), params))?.n);
  const idempotencyRow = sql('SELECT request_hash, status_code, response_json FROM idempotency WHERE scope = ? AND key = ?');

  it('an idempotent hold writes the reservation, the held compartment, one state-log row and the record with the response around the claimed id', async () => {
    const got = await hold('one');
    expect(got).toEqual({ kind: 'held', reservation: { id: 'one', orderRef: 'o-one', lockerId: 'lk', size: 'M', compartmentId: 'M00', status: 'held', expiresAt: T + 60_000, createdAt: T } });
    expect(await repo.get('one')).toEqual({ id: 'one', orderRef: 'o-one', lockerId: 'lk', size: 'M', compartmentId: 'M00', status: 'held', expiresAt: T + 60_000, createdAt: T });
    expect(await x.one(sql(`SELECT state, reservation_id, hold_expires_at FROM compartments WHERE id = 'M00'`))).toEqual({ state: 'held', reservation_id: 'one', hold_expires_at: T + 60_000 });
    expect(await x.all(sql(`SELECT from_state, to_state, event, actor, at FROM state_log WHERE entity = 'reservation' AND entity_id = 'one'`))).toEqual([
      { from_state: null, to_state: 'held', event: 'reserve', actor: 'checkout', at: T },
    ]);
    expect(await x.one(idempotencyRow, ['reservation', 'key-one'])).toEqual({ request_hash: 'h1', status_code: 201, response_json: '{"id":"one","compartmentId":"M00"}' });
  });

  it('a hold under a used key answers its record and writes nothing', async () => {
    await hold('first', 'same-key');
    const again = await hold('second', 'same-key', 'h2');
    expect(again).toEqual({ kind: 'replay', record: { requestHash: 'h1', statusCode: 201, responseJson: '{"id":"first","compartmentId":"M00"}' } });
    expect(await repo.get('second')).toBeUndefined();
    expect(await count(`SELECT count(*) AS n FROM compartments WHERE state = 'held'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM state_log WHERE entity_id = 'second'`)).toBe(0);
  });

  it('a hold that finds nothing free, or a locker that refuses holds, answers none and writes nothing, not even the record', async () => {
    for (let i = 0; i < 10; i++) await hold(`f${String(i)}`);
    expect(await hold('eleventh')).toEqual({ kind: 'none' });
    await x.run(sql(`UPDATE lockers SET status = 'out_of_service' WHERE id = 'lk'`));
    await repo.release('f3', 'released', T);
    expect(await hold('closed')).toEqual({ kind: 'none' });
    expect(await count('SELECT count(*) AS n FROM idempotency WHERE key IN (?, ?)', ['key-eleventh', 'key-closed'])).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM state_log WHERE entity_id IN ('eleventh', 'closed')`)).toBe(0);
  });

  it('200 concurrent idempotent holds for 10 compartments: exactly 10 held, each on its own compartment, the rest none', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => hold(`c${String(i)}`).catch((err: unknown) => err)));
    const held = results.filter((r): r is { kind: 'held'; reservation: { compartmentId: string } } => (r as { kind?: string }).kind === 'held');
    expect(held).toHaveLength(10);
    expect(new Set(held.map((r) => r.reservation.compartmentId)).size).toBe(10);
    expect(results.filter((r) => (r as { kind?: string }).kind === 'none')).toHaveLength(190);
    expect(await count(`SELECT count(*) AS n FROM reservations WHERE status = 'held'`)).toBe(10);
    expect(await count(`SELECT count(*) AS n FROM idempotency`)).toBe(10);
    expect(await count(`SELECT count(*) AS n FROM state_log WHERE entity = 'reservation'`)).toBe(10);
  });

  it('20 concurrent holds under one key: one hold; the others replay it or lose the key and wrote nothing', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => hold(`k${String(i)}`, 'one-key').catch((err: unknown) => err)));
    const kinds = results.map((r) => (isBackendError(r, 'IDEMPOTENCY_IN_PROGRESS') ? 'taken' : (r as { kind?: string }).kind));
    expect(kinds.filter((k) => k === 'held')).toHaveLength(1);
    expect(kinds.filter((k) => k !== 'held' && k !== 'replay' && k !== 'taken')).toEqual([]);
    expect(await count(`SELECT count(*) AS n FROM reservations`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM compartments WHERE state = 'held'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM state_log WHERE entity = 'reservation'`)).toBe(1);
  });

  // The race the single statement settles by a unique violation: the key's first request
  // has written (on PostgreSQL, not yet committed) when the second's snapshot is taken.
  it('a hold whose key another in-flight hold takes first is undone whole (PostgreSQL) or replays it (SQLite, one writer)', async () => {
    let firstHeld!: () => void;
    const held = new Promise<void>((resolve) => (firstHeld = resolve));
    let commit!: () => void;
    const mayCommit = new Promise<void>((resolve) => (commit = resolve));
    const first = x.transaction(async () => {
      const r = await hold('first', 'raced-key');
      firstHeld();
      await mayCommit;
      return r;
    });
    await held;
    const second = hold('second', 'raced-key').catch((err: unknown) => err);
    // PostgreSQL: the second waits on the first's uncommitted key. SQLite: it queues behind
    // the open transaction on the one connection, whenever the commit comes.
    if (schema !== undefined) await waitForLockWait(schema);
    commit();
    expect((await first).kind).toBe('held');
    const got = await second;
    if (engine === 'postgres') expect(isBackendError(got, 'IDEMPOTENCY_IN_PROGRESS')).toBe(true);
    else expect(got).toMatchObject({ kind: 'replay' });
    expect(await repo.get('second')).toBeUndefined();
    expect(await count(`SELECT count(*) AS n FROM compartments WHERE state = 'held'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM state_log WHERE entity = 'reservation'`)).toBe(1);
  });
});
