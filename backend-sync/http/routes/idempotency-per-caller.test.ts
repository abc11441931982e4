import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../../auth/api-key-auth.js';
import { encodeMessage, newEnvelope, topicFor } from '../../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { requestHash } from '../../shared/idempotency.js';
import { twoLineOrder } from '../../testing/order-helpers.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { App } from '../app.js';

// Two API clients (two shops, two operators) that happen to send the same Idempotency-Key
// to the same endpoint are two requests: neither may get the other's stored answer (the
// other's hold or command), nor a 422 for the other's body. A retry by the same client
// still replays its own first answer.

const engines = await testEngines('Idempotency-Keys per caller');

const keys = { shopA: 'shop-a-key-0123456789abcdef', shopB: 'shop-b-key-0123456789abcdef', opsA: 'ops-a-key-0123456789abcdef', opsB: 'ops-b-key-0123456789abcdef', longest: 'longest-id-key-0123456789abcdef' };
/** The longest API key id there can be (auth/api-key-auth.ts). */
const LONGEST_ID = 'l'.repeat(64);
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
            { id: LONGEST_ID, roles: ['merchant'], sha256: apiKeyDigest(keys.longest) },
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

  // Records stored before keys were scoped by caller carry the bare key. A client retrying
  // across that upgrade (a deploy is when clients retry) must get its first answer, not a
  // second hold or order; another body under that bare key is taken for another client's.
  it('POST /reservations: a retry across the upgrade replays the bare-key record of the very same request', async () => {
    const before = await f.services.reservations.reserveGrouped('upgrade-key-0001', { orderRef: 'u-1', lockerId: 'lk-a', size: 'M' });
    const retry = await reserve(keys.shopA, 'upgrade-key-0001', 'u-1', 'lk-a');
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json<Hold>().id).toBe(before.body.id);

    // Another body under that bare key: maybe another client's, so a new hold, not a 422.
    const other = await reserve(keys.shopB, 'upgrade-key-0001', 'u-other', 'lk-b');
    expect(other.statusCode).toBe(201);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.json<Hold>()).toMatchObject({ orderRef: 'u-other', lockerId: 'lk-b' });
    // Its retry replays its own new record, which now comes first.
    const otherAgain = await reserve(keys.shopB, 'upgrade-key-0001', 'u-other', 'lk-b');
    expect(otherAgain.headers['idempotent-replayed']).toBe('true');
    expect(otherAgain.json<Hold>().id).toBe(other.json<Hold>().id);
  });

  it('POST /orders: a retry across the upgrade replays the bare-key order; another body is a new order', async () => {
    const before = await f.services.orders.place('upgrade-order-0001', twoLineOrder('up-1'));
    const place = (apiKey: string, orderRef: string) => app.inject({ method: 'POST', url: '/orders', headers: { ...bearer(apiKey), 'idempotency-key': 'upgrade-order-0001' }, payload: twoLineOrder(orderRef) });
    const retry = await place(keys.shopA, 'up-1');
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json<{ id: string }>().id).toBe(before.body.id);
    const other = await place(keys.shopB, 'up-2');
    expect(other.statusCode).toBe(201);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.json<{ id: string }>().id).not.toBe(before.body.id);
  });

  it('takes the longest key from the caller with the longest API key id, and replays it', async () => {
    const longest = 'k'.repeat(128);
    const first = await reserve(keys.longest, longest, 'long-1', 'lk-a');
    expect(first.statusCode).toBe(201);
    const again = await reserve(keys.longest, longest, 'long-1', 'lk-a');
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json<Hold>().id).toBe(first.json<Hold>().id);
  });

  it('names the key as the client sent it, never its stored caller-scoped form', async () => {
    // A stored answer that no longer reads back is a 500 naming the key: the client's own.
    await f.store.idempotency.put('reservation', 'shop-a:corrupt-key-0001', { requestHash: requestHash({ orderRef: 'c-1', lockerId: 'lk-a', size: 'M' }), statusCode: 201, responseJson: '{}' }, f.clock.now());
    const res = await reserve(keys.shopA, 'corrupt-key-0001', 'c-1', 'lk-a');
    expect(res.statusCode).toBe(500);
    expect(res.json<{ error: { details: { key: string } } }>().error.details.key).toBe('corrupt-key-0001');
  });
});
