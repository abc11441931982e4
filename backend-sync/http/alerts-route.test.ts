import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

// GET /alerts through the real app: a keyset page, newest first, that an operator walks
// back with `before`; never the whole table in one answer.

const admin = 'admin-key-0123456789abcdef';

describe('GET /alerts', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ config: { auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: apiKeyDigest(admin) }] } } });
    const t = f.clock.now();
    for (const [id, lockerId, at] of [['al-1', 'lk-a', t], ['al-2', 'lk-b', t + 1], ['al-3', 'lk-a', t + 2]] as const) {
      await f.store.alerts.raise({ id, lockerId, kind: 'sync.batch-rejected', details: { n: at - t }, at }, id);
    }
  });
  afterEach(() => f.close());

  const get = async (query: string): Promise<{ status: number; body: { alerts?: Array<{ id: string }>; next?: string; error?: { code: string } } }> => {
    const app = await f.app();
    const res = await app.inject({ method: 'GET', url: `/alerts${query}`, headers: { authorization: `Bearer ${admin}` } });
    return { status: res.statusCode, body: res.json() };
  };

  it('answers a page newest first with the cursor of the next one, and the last page without one', async () => {
    const first = await get('?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.alerts?.map((a) => a.id)).toEqual(['al-3', 'al-2']);
    expect(first.body.next).toBeDefined();
    const second = await get(`?limit=2&before=${encodeURIComponent(first.body.next ?? '')}`);
    expect(second.body.alerts?.map((a) => a.id)).toEqual(['al-1']);
    expect(second.body.next).toBeUndefined();
    expect((await get('?lockerId=lk-a')).body.alerts?.map((a) => a.id)).toEqual(['al-3', 'al-1']);
  });

  it('refuses a malformed cursor or an oversized page with a 400 that says why', async () => {
    for (const query of ['?before=yesterday', '?limit=501', '?limit=0']) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      expect(res.body.error?.code, query).toBe('INVALID_INPUT');
    }
  });
});
