import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import type { App } from './app.js';
import { openApiText } from './openapi.js';

// Bearer API keys with roles, through the real app (fastify inject) on a real SQLite file.

const keys = { merchant: 'merchant-key-0123456789abcdef', carrier: 'carrier-key-0123456789abcdef', admin: 'admin-key-0123456789abcdef', page: 'page-key-0123456789abcdef' };
const bearer = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` });

describe('API authentication', () => {
  let f: BackendFixture;
  let app: App;
  beforeEach(async () => {
    f = await makeBackend({
      config: {
        auth: {
          apiKeys: [
            { id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(keys.merchant) },
            { id: 'courier-co', roles: ['carrier'], sha256: apiKeyDigest(keys.carrier) },
            { id: 'ops', roles: ['admin'], sha256: apiKeyDigest(keys.admin) },
            { id: 'page', roles: ['customer-page'], sha256: apiKeyDigest(keys.page) },
          ],
        },
      },
    });
    app = await f.app();
  });
  afterEach(() => f.close());

  it('answers 401 with WWW-Authenticate: Bearer when no key is sent, and does not register the locker', async () => {
    const res = await app.inject({ method: 'POST', url: '/lockers', payload: lockerInput('lk-a', 52.5, 13.4) });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="backend-sync"');
    expect(res.json<{ error: { code: string } }>().error.code).toBe('UNAUTHENTICATED');
    expect(res.body).not.toContain('codePepper');
    expect(await f.store.lockers.get('lk-a')).toBeUndefined();
  });

  it('answers 401 invalid_token for an unknown key, a malformed header and another scheme', async () => {
    for (const authorization of ['Bearer not-a-configured-key-at-all', 'Bearer', `Basic ${Buffer.from('a:b').toString('base64')}`, `bearer ${keys.admin}`]) {
      const res = await app.inject({ method: 'GET', url: '/alerts', headers: { authorization } });
      expect(res.statusCode, authorization).toBe(401);
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    }
  });

  it('answers 403 FORBIDDEN when the key is valid but its role is not admitted', async () => {
    const register = await app.inject({ method: 'POST', url: '/lockers', headers: bearer(keys.merchant), payload: lockerInput('lk-a', 52.5, 13.4) });
    expect(register.statusCode).toBe(403);
    expect(register.json<{ error: { code: string } }>().error.code).toBe('FORBIDDEN');
    const revoke = await app.inject({ method: 'POST', url: '/admin/keys/k-1/revocation', headers: bearer(keys.carrier) });
    expect(revoke.statusCode).toBe(403);
    const reserve = await app.inject({ method: 'POST', url: '/reservations', headers: { ...bearer(keys.admin), 'idempotency-key': 'key-auth-0001' }, payload: { orderRef: 'o', lockerId: 'lk-a', size: 'M' } });
    expect(reserve.statusCode).toBe(403);
  });

  it('lets an admin register a locker (pepper returned) and each role reach its own routes', async () => {
    const register = await app.inject({ method: 'POST', url: '/lockers', headers: bearer(keys.admin), payload: lockerInput('lk-a', 52.5, 13.4) });
    expect(register.statusCode).toBe(201);
    expect(register.json<{ provisioning: { codePepper: string } }>().provisioning.codePepper.length).toBeGreaterThan(10);
    const search = await app.inject({ method: 'GET', url: '/lockers/search?lat=52.5&lng=13.4&radiusM=1000&size=M', headers: bearer(keys.merchant) });
    expect(search.statusCode).toBe(200);
    const courier = await app.inject({ method: 'POST', url: '/lockers/lk-a/courier-credentials', headers: bearer(keys.carrier), payload: { courierId: 'c-1' } });
    expect(courier.statusCode).toBe(201);
    const detail = await app.inject({ method: 'GET', url: '/lockers/lk-a', headers: bearer(keys.page) });
    expect(detail.statusCode).toBe(200);
  });

  it('keeps /health open and answers unknown routes 401 before 404', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/no/such/route' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/no/such/route', headers: bearer(keys.merchant) })).statusCode).toBe(404);
  });

  it('documents the bearer scheme and the admitted roles on every operation, none without a role', () => {
    const doc = JSON.parse(openApiText(app)) as { components: { securitySchemes: Record<string, { scheme: string }> }; paths: Record<string, Record<string, { security?: unknown; description?: string }>> };
    expect(doc.components.securitySchemes['apiKey']?.scheme).toBe('bearer');
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ at: `${m} ${path}`, op })));
    expect(ops.length).toBeGreaterThan(20);
    // The provider webhooks are the only operations without a key: they carry an HMAC instead.
    const signed = ops.filter(({ at }) => at.startsWith('post /tracking/webhooks/'));
    expect(signed.map(({ at }) => at).sort()).toEqual(['post /tracking/webhooks/aftership', 'post /tracking/webhooks/easypost']);
    for (const { at, op } of signed) {
      expect(op.security, at).toEqual([]);
      expect(op.description, at).toMatch(/HMAC signature/);
    }
    for (const { at, op } of ops.filter((o) => !signed.includes(o))) {
      expect(op.security, at).toEqual([{ apiKey: [] }]);
      expect(op.description, at).toMatch(/Roles: (merchant|carrier|customer-page|admin)/);
    }
  });
});
