import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../../auth/api-key-auth.js';
import { makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { recordingLogger } from '../../testing/recording-logger.js';
import { DEAD_LETTER_PREVIEW_CHARS, type DeadLetterDetail, type DeadLetterPage } from '../../tracking/dead-letter-list.js';
import type { TrackingSource } from '../../tracking/tracking-event.js';
import type { App } from '../app.js';

// GET /admin/tracking/dead-letters and GET /admin/tracking/dead-letters/{id} through the real
// app (fastify inject, API keys on) on both engines: what an operator walks before a replay.
// Letters are stored as the intake and the applier store them (store.tracking.deadLetter).

const keys = { admin: 'admin-key-0123456789abcdef', carrier: 'carrier-key-0123456789abcdef' };
const bearer = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` });
type ErrorJson = { error?: { code: string; message: string; details?: Record<string, unknown> } };

const engines = await testEngines('dead letter list');

describe.each(engines)('tracking dead letters listed over HTTP on %s', (engine) => {
  let f: BackendFixture;
  let app: App;
  let log: ReturnType<typeof recordingLogger>;

  beforeEach(async () => {
    log = recordingLogger();
    f = await makeBackend({
      engine,
      logger: log.logger,
      config: {
        auth: {
          apiKeys: [
            { id: 'ops', roles: ['admin'], sha256: apiKeyDigest(keys.admin) },
            { id: 'courier-co', roles: ['carrier'], sha256: apiKeyDigest(keys.carrier) },
          ],
        },
      },
    });
    app = await f.app();
  });
  afterEach(() => f.close());

  const store = (id: string, source: TrackingSource, receivedAt: number, body = `{"events":[{"id":"${id}"}]}`, reason = `reason of ${id}`): Promise<void> =>
    f.store.tracking.deadLetter({ id, source, body, reason, receivedAt });

  /** key null: no authorization header at all. */
  async function get<T>(url: string, key: string | null = keys.admin): Promise<{ status: number; body: T & ErrorJson }> {
    const res = await app.inject({ method: 'GET', url, ...(key === null ? {} : { headers: bearer(key) }) });
    return { status: res.statusCode, body: res.json() };
  }

  /** Every page from `query`, following nextCursor; the ids in the order served. */
  async function walk(query: string, limit: number): Promise<string[]> {
    const ids: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 50; pages++) {
      const sep = query === '' ? '' : '&';
      const res = await get<DeadLetterPage>(`/admin/tracking/dead-letters?${query}${sep}limit=${String(limit)}${after === undefined ? '' : `&after=${after}`}`);
      expect(res.status).toBe(200);
      expect(res.body.deadLetters.length).toBeLessThanOrEqual(limit);
      ids.push(...res.body.deadLetters.map((d) => d.id));
      if (res.body.nextCursor === undefined) return ids;
      after = res.body.nextCursor;
    }
    throw new Error('paging did not end');
  }

  it('pages newest first without repeating or skipping a letter, also among equal receive times and while new ones arrive', async () => {
    const t = f.clock.now();
    // Three letters in one millisecond: the id breaks the tie, so a page boundary among them holds.
    const stored: Array<[string, number]> = [
      ['tdl_a01', t - 5_000],
      ['tdl_a02', t - 4_000],
      ['tdl_a03', t - 3_000],
      ['tdl_a04', t - 3_000],
      ['tdl_a05', t - 3_000],
      ['tdl_a06', t - 2_000],
      ['tdl_a07', t - 1_000],
    ];
    for (const [id, at] of stored) await store(id, 'canonical', at);
    const newestFirst = ['tdl_a07', 'tdl_a06', 'tdl_a05', 'tdl_a04', 'tdl_a03', 'tdl_a02', 'tdl_a01'];

    for (const limit of [1, 2, 3, 7, 100]) expect(await walk('', limit), `limit ${String(limit)}`).toEqual(newestFirst);

    const first = await get<DeadLetterPage>('/admin/tracking/dead-letters?limit=3');
    expect(first.body.deadLetters.map((d) => d.id)).toEqual(['tdl_a07', 'tdl_a06', 'tdl_a05']);
    expect(first.body.deadLetters[0]).toEqual({ id: 'tdl_a07', source: 'canonical', reason: 'reason of tdl_a07', receivedAt: t - 1_000, bodyBytes: 29, bodyPreview: '{"events":[{"id":"tdl_a07"}]}', bodyTruncated: false });
    // A letter arriving between two pages is newer than the cursor: the walk goes on where it was.
    await store('tdl_a08', 'canonical', t);
    const second = await get<DeadLetterPage>(`/admin/tracking/dead-letters?limit=3&after=${first.body.nextCursor ?? ''}`);
    expect(second.body.deadLetters.map((d) => d.id)).toEqual(['tdl_a04', 'tdl_a03', 'tdl_a02']);
    const third = await get<DeadLetterPage>(`/admin/tracking/dead-letters?limit=3&after=${second.body.nextCursor ?? ''}`);
    expect(third.body).toEqual({ deadLetters: [expect.objectContaining({ id: 'tdl_a01' })] });

    // The default page is 20.
    for (let i = 0; i < 25; i++) await store(`tdl_b${String(i).padStart(2, '0')}`, 'poll', t - 10_000 - i);
    const byDefault = await get<DeadLetterPage>('/admin/tracking/dead-letters');
    expect(byDefault.body.deadLetters).toHaveLength(20);
    expect(byDefault.body.nextCursor).toBeDefined();
  });

  it('filters by source and by the time received [from, to), across pages', async () => {
    const t = f.clock.now();
    await store('tdl_e1', 'easypost', t - 400);
    await store('tdl_l1', 'locker', t - 300);
    await store('tdl_e2', 'easypost', t - 200);
    await store('tdl_e3', 'easypost', t - 100);
    await store('tdl_c1', 'canonical', t - 100);

    expect(await walk('source=easypost', 1)).toEqual(['tdl_e3', 'tdl_e2', 'tdl_e1']);
    expect(await walk('source=locker', 5)).toEqual(['tdl_l1']);
    expect(await walk('source=aftership', 5)).toEqual([]);
    expect(await walk(`from=${String(t - 300)}&to=${String(t - 100)}`, 1)).toEqual(['tdl_e2', 'tdl_l1']);
    expect(await walk(`from=${String(t - 200)}`, 2)).toEqual(['tdl_e3', 'tdl_c1', 'tdl_e2']);
    expect(await walk(`to=${String(t - 200)}`, 2)).toEqual(['tdl_l1', 'tdl_e1']);
    expect(await walk(`source=easypost&from=${String(t - 300)}`, 1)).toEqual(['tdl_e3', 'tdl_e2']);
  });

  it('lists a megabyte body by its size and a bounded preview; the detail returns all of it, and the letter stays', async () => {
    // Multi-byte text: the size is in bytes, the preview cut in characters, never mid-character.
    const big = `{"raw":"${'ü€'.repeat(400_000)}"}`;
    const bytes = Buffer.byteLength(big, 'utf8');
    expect(bytes).toBeGreaterThan(2_000_000);
    await store('tdl_big', 'aftership', f.clock.now(), big, 'body is not JSON');

    const list = await app.inject({ method: 'GET', url: '/admin/tracking/dead-letters', headers: bearer(keys.admin) });
    expect(list.statusCode).toBe(200);
    expect(list.body.length).toBeLessThan(2_000);
    const [item] = list.json<DeadLetterPage>().deadLetters;
    expect(item).toEqual({ id: 'tdl_big', source: 'aftership', reason: 'body is not JSON', receivedAt: f.clock.now(), bodyBytes: bytes, bodyPreview: big.slice(0, DEAD_LETTER_PREVIEW_CHARS), bodyTruncated: true });

    const detail = await get<DeadLetterDetail>('/admin/tracking/dead-letters/tdl_big');
    expect(detail.status).toBe(200);
    expect(detail.body).toEqual({ id: 'tdl_big', source: 'aftership', reason: 'body is not JSON', receivedAt: f.clock.now(), bodyBytes: bytes, body: big });
    expect(log.lines.filter((l) => l['msg'] === 'tracking.dead_letter_inspected')).toEqual([expect.objectContaining({ deadLetterId: 'tdl_big', source: 'aftership', bodyBytes: bytes })]);
    // Reading takes nothing: only a replay does.
    expect((await f.store.tracking.deadLetters()).map((d) => d.id)).toEqual(['tdl_big']);
  });

  it('answers 404 for an unknown id, and the listed id is the one the replay takes', async () => {
    const unknown = await get('/admin/tracking/dead-letters/tdl_nothing');
    expect({ status: unknown.status, code: unknown.body.error?.code }).toEqual({ status: 404, code: 'NOT_FOUND' });

    await store('tdl_raw', 'easypost', f.clock.now(), '{"object":"Event"', 'invalid JSON');
    const [listed] = (await get<DeadLetterPage>('/admin/tracking/dead-letters')).body.deadLetters;
    expect(listed?.id).toBe('tdl_raw');
    expect((await get<DeadLetterDetail>(`/admin/tracking/dead-letters/${listed?.id ?? ''}`)).body.body).toBe('{"object":"Event"');
  });

  it('answers 400 with the reason for a query it cannot read', async () => {
    const cases: Array<[string, RegExp]> = [
      ['limit=0', /limit/],
      ['limit=101', /limit/],
      ['limit=', /limit: digits only/],
      ['limit=abc', /limit: digits only/],
      ['from=0x10', /from \(epoch milliseconds\): digits only/],
      ['to=-5', /to \(epoch milliseconds\): digits only/],
      ['from=200&to=100', /from must be before to/],
      ['source=fedex', /source/],
      ['after=bm90LWEtY3Vyc29y', /after is not a cursor this API returned/],
      ['colour=blue', /colour/],
    ];
    for (const [query, reason] of cases) {
      const res = await get(`/admin/tracking/dead-letters?${query}`);
      expect({ query, status: res.status, code: res.body.error?.code }).toEqual({ query, status: 400, code: 'INVALID_INPUT' });
      // The schema's reasons come as details.issues; a cursor's as the message.
      expect(JSON.stringify(res.body.error), query).toMatch(reason);
    }
    const badId = await get('/admin/tracking/dead-letters/not-a-dead-letter');
    expect(badId.status).toBe(400);
  });

  it('admits only an admin key, as the replay route does: 401 without a key, 403 for another role', async () => {
    await store('tdl_x', 'canonical', f.clock.now());
    for (const url of ['/admin/tracking/dead-letters', '/admin/tracking/dead-letters/tdl_x', '/admin/tracking/dead-letters/tdl_nothing']) {
      const anonymous = await get(url, null);
      expect({ url, status: anonymous.status, code: anonymous.body.error?.code }).toEqual({ url, status: 401, code: 'UNAUTHENTICATED' });
      const carrier = await get(url, keys.carrier);
      expect({ url, status: carrier.status, code: carrier.body.error?.code }).toEqual({ url, status: 403, code: 'FORBIDDEN' });
      expect(carrier.body).not.toHaveProperty('deadLetters');
    }
    // The replay route answers the same way.
    const replay = await app.inject({ method: 'POST', url: '/admin/tracking/dead-letters/tdl_x/replay', headers: bearer(keys.carrier) });
    expect(replay.statusCode).toBe(403);
    expect((await get('/admin/tracking/dead-letters/tdl_x')).status).toBe(200);
  });
});
