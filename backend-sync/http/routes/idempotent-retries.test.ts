import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeMessage, newEnvelope, topicFor } from '../../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { paidOrder, ship } from '../../testing/order-helpers.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { App } from '../app.js';

// A client that lost an answer (a 503 when the connection died during COMMIT, a timeout)
// retries. Under an Idempotency-Key the retry of POST /lockers/{id}/commands must not send
// a second command (a remote open would open the door again) and the retry of POST
// /shipments/{id}/pickup-extension must not extend twice: both answer the first response.
// Without a key both endpoints stay as they were: every request applies.

const engines = await testEngines('idempotent retries');
const HOUR = 3_600_000;

interface ErrorJson {
  error: { code: string };
}

/**
 * Holds the first two idempotency lookups until both have run, so two requests under one
 * key both miss the record and both do their work, as two instances taking a retry at once
 * would. PostgreSQL only: there each transaction has its own connection and they overlap;
 * SQLite runs one transaction at a time, so the second request finds the first's record.
 */
function bothMissTheKey(f: BackendFixture, engine: string): void {
  if (engine !== 'postgres') return;
  const idem = f.store.idempotency;
  const lookup = idem.get.bind(idem);
  const waiting: Array<() => void> = [];
  idem.get = async (scope, key) => {
    const found = await lookup(scope, key);
    if (waiting.length < 2) {
      await new Promise<void>((resume) => {
        waiting.push(resume);
        if (waiting.length === 2) for (const w of waiting) w();
      });
    }
    return found;
  };
}

describe.each(engines)('retries under an Idempotency-Key on %s', (engine) => {
  let f: BackendFixture;
  let app: App;
  /** Commands the backend published to lk-a: one per command stored (the clock stands still, so none is re-published). */
  let published: number;

  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    published = 0;
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
    app = await f.app();
  });
  afterEach(() => f.close());

  describe('POST /lockers/{id}/commands', () => {
    const remoteOpen = (key: string | undefined, compartmentId = 'M1', lockerId = 'lk-a') =>
      app.inject({
        method: 'POST',
        url: `/lockers/${lockerId}/commands`,
        payload: { command: { kind: 'remote-open', compartmentId, reason: 'support' } },
        ...(key === undefined ? {} : { headers: { 'idempotency-key': key } }),
      });

    it('answers a retry with the first command and does not send a second one', async () => {
      const first = await remoteOpen('open-M1-00001');
      expect(first.statusCode).toBe(202);
      const retry = await remoteOpen('open-M1-00001');
      expect(retry.statusCode).toBe(202);
      expect(published).toBe(1);
      expect(retry.json()).toEqual(first.json());
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const id = first.json<{ transactionId: string }>().transactionId;
      expect((await f.services.commands.get(id)).command).toMatchObject({ kind: 'remote-open', compartmentId: 'M1' });
    });

    it('refuses the same key with another body, or for another locker, with 422 and sends nothing more', async () => {
      await f.services.lockers.register(lockerInput('lk-b', 52.52, 13.405, { M: 2 }));
      expect((await remoteOpen('open-key-0002')).statusCode).toBe(202);
      const other = await remoteOpen('open-key-0002', 'M2');
      expect(other.statusCode).toBe(422);
      expect(other.json<ErrorJson>().error.code).toBe('IDEMPOTENCY_MISMATCH');
      const elsewhere = await remoteOpen('open-key-0002', 'M1', 'lk-b');
      expect(elsewhere.statusCode).toBe(422);
      expect(elsewhere.json<ErrorJson>().error.code).toBe('IDEMPOTENCY_MISMATCH');
      expect(published).toBe(1);
    });

    it('sends a command per request without a key, as before', async () => {
      const a = await remoteOpen(undefined);
      const b = await remoteOpen(undefined);
      expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
      expect(a.json<{ transactionId: string }>().transactionId).not.toBe(b.json<{ transactionId: string }>().transactionId);
      expect(published).toBe(2);
    });

    it('sends one command for two requests under one key at the same time; the other answers it again', async () => {
      bothMissTheKey(f, engine);
      const [a, b] = await Promise.all([remoteOpen('open-race-0001'), remoteOpen('open-race-0001')]);
      expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
      expect(a.json()).toEqual(b.json());
      expect([a.headers['idempotent-replayed'], b.headers['idempotent-replayed']].filter((h) => h === 'true')).toHaveLength(1);
      expect(published).toBe(1);
    });

    it('delivers a keyed command whose publish failed through the retry pass, and replays its first answer', async () => {
      let brokerUp = false;
      f.services.commands.attach({
        publish: () => {
          if (!brokerUp) return Promise.reject(new Error('broker unreachable'));
          published++;
          return Promise.resolve();
        },
      });
      const first = await remoteOpen('open-down-0001');
      expect(first.statusCode).toBe(202);
      brokerUp = true;
      f.clock.advance(5_000);
      expect(await f.services.commands.publishDue()).toBe(1);
      const retry = await remoteOpen('open-down-0001');
      expect(retry.statusCode).toBe(202);
      expect(retry.json()).toEqual(first.json());
      expect(published).toBe(1);
    });

    it('keeps a request that failed retryable under its key', async () => {
      // The compartment does not exist: 404, nothing stored under the key.
      expect((await remoteOpen('open-key-0003', 'Z99')).statusCode).toBe(404);
      expect((await remoteOpen('open-key-0003', 'Z99')).statusCode).toBe(404);
      expect(published).toBe(0);
    });
  });

  describe('POST /shipments/{id}/pickup-extension', () => {
    let shipmentId: string;
    let deadline: number;
    beforeEach(async () => {
      const o = await paidOrder(f, 'ord-ext-idem', [{ lineId: 'l1', size: 'M' }]);
      const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TL-IDEM-1');
      await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
      shipmentId = s.id;
      deadline = (await f.services.shipments.get(s.id)).pickupDeadline!;
    });

    const extend = (key: string | undefined, extendByMs = 24 * HOUR) =>
      app.inject({ method: 'POST', url: `/shipments/${shipmentId}/pickup-extension`, payload: { extendByMs }, ...(key === undefined ? {} : { headers: { 'idempotency-key': key } }) });
    const extensions = async (): Promise<number> => (await f.store.stateLog.list('shipment', shipmentId)).filter((e) => e.event === 'extend_pickup').length;

    it('answers a retry with the first extension and does not extend twice', async () => {
      const first = await extend('extend-0001');
      expect(first.statusCode).toBe(200);
      const retry = await extend('extend-0001');
      expect(retry.statusCode).toBe(200);
      expect((await f.services.shipments.get(shipmentId)).pickupDeadline).toBe(deadline + 24 * HOUR);
      expect(await extensions()).toBe(1);
      expect(retry.json()).toEqual(first.json());
      expect(first.json<{ pickupDeadline: number }>().pickupDeadline).toBe(deadline + 24 * HOUR);
      expect(retry.headers['idempotent-replayed']).toBe('true');
    });

    it('refuses the same key with another body with 422 and leaves the deadline', async () => {
      expect((await extend('extend-0002')).statusCode).toBe(200);
      const other = await extend('extend-0002', 12 * HOUR);
      expect(other.statusCode).toBe(422);
      expect(other.json<ErrorJson>().error.code).toBe('IDEMPOTENCY_MISMATCH');
      expect((await f.services.shipments.get(shipmentId)).pickupDeadline).toBe(deadline + 24 * HOUR);
      expect(await extensions()).toBe(1);
    });

    it('extends once for two requests under one key at the same time; the other replays or is told to retry', async () => {
      bothMissTheKey(f, engine);
      const [a, b] = await Promise.all([extend('extend-race-01'), extend('extend-race-01')]);
      // PostgreSQL: the second's optimistic update finds the first's commit (409 CONFLICT,
      // retry); its retry replays. Never a second extension, never a 500.
      for (const r of [a, b]) expect([200, 409]).toContain(r.statusCode);
      expect([a.statusCode, b.statusCode]).toContain(200);
      expect((await f.services.shipments.get(shipmentId)).pickupDeadline).toBe(deadline + 24 * HOUR);
      expect(await extensions()).toBe(1);
      const retry = await extend('extend-race-01');
      expect(retry.statusCode).toBe(200);
      expect(retry.headers['idempotent-replayed']).toBe('true');
    });

    it('extends per request without a key, as before', async () => {
      expect((await extend(undefined)).statusCode).toBe(200);
      expect((await extend(undefined)).statusCode).toBe(200);
      expect((await f.services.shipments.get(shipmentId)).pickupDeadline).toBe(deadline + 48 * HOUR);
      expect(await extensions()).toBe(2);
    });
  });
});
