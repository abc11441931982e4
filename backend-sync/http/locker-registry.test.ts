import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import type { App } from './app.js';
import { openApiText } from './openapi.js';

const admin = 'admin-key-0123456789abcdef';
const merchant = 'merchant-key-0123456789abcdef';
const bearer = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` });

describe('the locker registry and the API description', () => {
  let f: BackendFixture;
  let app: App;
  beforeEach(async () => {
    f = await makeBackend({ config: { auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: apiKeyDigest(admin) }, { id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(merchant) }] } } });
    for (const [i, id] of ['lk-c', 'lk-a', 'lk-b', 'lk-d', 'lk-e'].entries()) await f.services.lockers.register(lockerInput(id, 52.5 + i / 100, 13.4));
    await f.services.lockers.setStatus('lk-d', 'out_of_service');
    app = await f.app();
  });
  afterEach(() => f.close());

  it('lists every locker a page at a time, in id order, to an operator', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await app.inject({ method: 'GET', url: `/lockers?limit=2${after === undefined ? '' : `&after=${after}`}`, headers: bearer(admin) });
      expect(res.statusCode).toBe(200);
      const body = res.json<{ lockers: Array<{ id: string; status: string; online: boolean }>; next?: string }>();
      seen.push(...body.lockers.map((l) => l.id));
      if (body.next === undefined) break;
      after = body.next;
    }
    expect(seen).toEqual(['lk-a', 'lk-b', 'lk-c', 'lk-d', 'lk-e']);
  });

  it('filters by status and never shows a code pepper', async () => {
    const res = await app.inject({ method: 'GET', url: '/lockers?status=out_of_service', headers: bearer(admin) });
    expect(res.json<{ lockers: Array<{ id: string }> }>().lockers.map((l) => l.id)).toEqual(['lk-d']);
    expect(res.body).not.toMatch(/pepper/i);
  });

  it('admits only operators to the list and rejects a bad query with the field', async () => {
    expect((await app.inject({ method: 'GET', url: '/lockers', headers: bearer(merchant) })).statusCode).toBe(403);
    const bad = await app.inject({ method: 'GET', url: '/lockers?limit=0', headers: bearer(admin) });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('limit');
  });

  it('serves its OpenAPI document without a key, identical to docs/openapi.json', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(`${JSON.stringify(res.json(), null, 2)}\n`).toBe(openApiText(app));
    expect(res.json<{ paths: Record<string, unknown> }>().paths['/lockers']).toBeDefined();
  });
});
