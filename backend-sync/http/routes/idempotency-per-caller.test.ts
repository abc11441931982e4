import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../../auth/api-key-auth.js';
import { encodeMessage, newEnvelope, topicFor } from '../../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { App } from '../app.js';

// Two API clients (two shops, two operators) that happen to send the same Idempotency-Key
// to the same endpoint are two requests: neither may get the other's stored answer (the
// other's hold or command), nor a 422 for the other's body. A retry by the same client
// still replays its own first answer.

const engines = await testEngines('Idempotency-Keys per caller');

const keys = { shopA: 'shop-a-key-0123456789abcdef', shopB: 'shop-b-key-0123456789abcdef', opsA: 'ops-a-key-0123456789abcdef', opsB: 'ops-b-key-0123456789abcdef' };
const bearer = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` });

interface Hold {
  id: string;
  orderRef: string;
  lockerId: string;
}

describe.each(engines)('Idempotency-Keys are per API key on %s', (engine) => {
  let f: BackendFixture;
  let app: App;

  beforeEach(async () => {
    f = await makeBackend({
      engine,
      config: {
        auth: {
          apiKeys: [
            { id: 'shop-a', roles: ['merchant'], sha256: apiKeyDigest(keys.shopA) },
            { id: 'shop-b', roles: ['merchant'], sha256: apiKeyDigest(keys.shopB) },
            { id: 'ops-a', roles: ['admin'], sha256: apiKeyDigest(keys.opsA) },
            { id: 'ops-b', roles: ['admin'], sha256: apiKeyDigest(keys.opsB) },
          ],
        },
      },
    });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 4 }));
    await f.services.lockers.register(lockerInput('lk-b', 52.53, 13.405, { M: 4 }));
    app = await f.app();
  });
  afterEach(() => f.close());

  const reserve = (apiKey: string, idemKey: string, orderRef: string, lockerId: string) =>
    app.inject({ method: 'POST', url: '/reservations', headers: { ...bearer(apiKey), 'idempotency-key': idemKey }, payload: { orderRef, lockerId, size: 'M' } });

  it('POST /reservations: the same key from two shops makes two holds, each replayed to its own shop only', async () => {
    const a = await reserve(keys.shopA, 'shared-key-0001', 'a-1', 'lk-a');
    expect(a.statusCode).toBe(201);
    // Another shop, another body, the same key: its own hold, not 422 for shop A's body.
    const b = await reserve(keys.shopB, 'shared-key-0001', 'b-1', 'lk-b');
    expect(b.statusCode).toBe(201);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(b.json<Hold>()).toMatchObject({ orderRef: 'b-1', lockerId: 'lk-b' });

    // The same body too: still shop B's own new hold, never shop A's.
    const a2 = await reserve(keys.shopA, 'shared-key-0002', 'same', 'lk-a');
    const b2 = await reserve(keys.shopB, 'shared-key-0002', 'same', 'lk-a');
    expect([a2.statusCode, b2.statusCode]).toEqual([201, 201]);
    expect(b2.headers['idempotent-replayed']).toBeUndefined();
    expect(b2.json<Hold>().id).not.toBe(a2.json<Hold>().id);

    // Each shop's retry replays its own first answer.
    for (const [apiKey, first, ref, locker] of [
      [keys.shopA, a, 'a-1', 'lk-a'],
      [keys.shopB, b, 'b-1', 'lk-b'],
    ] as const) {
      const again = await reserve(apiKey, 'shared-key-0001', ref, locker);
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json<Hold>().id).toBe(first.json<Hold>().id);
    }
    // And a shop's own key with another body is still refused.
    expect((await reserve(keys.shopA, 'shared-key-0001', 'a-other', 'lk-a')).statusCode).toBe(422);
    expect(await f.store.reservations.get(a.json<Hold>().id)).toMatchObject({ orderRef: 'a-1' });
    expect(await f.store.reservations.get(b.json<Hold>().id)).toMatchObject({ orderRef: 'b-1' });
  });

  it('POST /lockers/{id}/commands: the same key from two operators sends two commands', async () => {
    let published = 0;
    f.services.commands.attach({
      publish: (topic) => {
        if (topic === topicFor('lk-a', 'cmd')) published++;
        return Promise.resolve();
      },
    });
    await f.services.bridge.onMessage(
      topicFor('lk-a', 'presence'),
      encodeMessage('presence', {
        ...newEnvelope('presence', f.clock.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0',
        codeSet: await f.store.codeSets.ensure('lk-a'), audit: { highSeq: 0, ackedSeq: 0 },
      }),
    );
    const open = (apiKey: string) =>
      app.inject({ method: 'POST', url: '/lockers/lk-a/commands', headers: { ...bearer(apiKey), 'idempotency-key': 'open-key-0001' }, payload: { command: { kind: 'remote-open', compartmentId: 'M1', reason: 'support' } } });
    const a = await open(keys.opsA);
    const b = await open(keys.opsB);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(b.json<{ transactionId: string }>().transactionId).not.toBe(a.json<{ transactionId: string }>().transactionId);
    const again = await open(keys.opsA);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json<{ transactionId: string }>().transactionId).toBe(a.json<{ transactionId: string }>().transactionId);
    expect(published).toBe(2);
  });
});
