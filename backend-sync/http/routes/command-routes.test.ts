import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_COMMAND_LIFETIME_MS, encodeMessage, newEnvelope, topicFor } from '../../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import type { App } from '../app.js';

// POST /lockers/{id}/commands: short-lived, and bound to the database epoch the locker announced.

interface ErrorJson {
  error: { code: string; details?: Record<string, unknown> };
}

const EPOCH = 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';

describe('command routes', () => {
  let f: BackendFixture;
  let app: App;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    app = await f.app();
  });
  afterEach(() => f.close());

  const presence = async (dbEpoch: string): Promise<void> =>
    f.services.bridge.onMessage(
      topicFor('lk-a', 'presence'),
      encodeMessage('presence', {
        ...newEnvelope('presence', f.clock.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch,
        codeSet: await f.store.codeSets.ensure('lk-a'), audit: { highSeq: 0, ackedSeq: 0 },
      }),
    );
  const send = (ttlMs?: number) =>
    app.inject({ method: 'POST', url: '/lockers/lk-a/commands', payload: { command: { kind: 'resync' }, ...(ttlMs === undefined ? {} : { ttlMs }) } });

  it('refuses a lifetime beyond five minutes with 422', async () => {
    await presence(EPOCH);
    const res = await send(MAX_COMMAND_LIFETIME_MS + 1);
    expect(res.statusCode).toBe(422);
    expect(res.json<ErrorJson>().error).toMatchObject({ code: 'BUSINESS_RULE', details: { maxTtlMs: MAX_COMMAND_LIFETIME_MS } });
    expect((await send(24 * 3_600_000)).statusCode).toBe(422);
    expect((await send(MAX_COMMAND_LIFETIME_MS)).statusCode).toBe(202);
  });

  it('answers 409 while the locker has never announced its database epoch', async () => {
    const res = await send();
    expect(res.statusCode).toBe(409);
    expect(res.json<ErrorJson>().error.code).toBe('CONFLICT');
  });

  it('signs the command for the epoch of the locker\'s latest presence, with a default lifetime within the cap', async () => {
    await presence(EPOCH);
    await presence('f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1');
    const res = await send();
    expect(res.statusCode).toBe(202);
    const c = await f.services.commands.get(res.json<{ transactionId: string }>().transactionId);
    expect(c.dbEpoch).toBe('f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1');
    expect(c.expiresAt - c.createdAt).toBeLessThanOrEqual(MAX_COMMAND_LIFETIME_MS);
  });

  it("shows a command under its own locker only: another locker's path answers 404", async () => {
    await f.services.lockers.register(lockerInput('lk-b', 52.52, 13.405, { M: 1 }));
    await presence(EPOCH);
    const txn = (await send()).json<{ transactionId: string }>().transactionId;
    expect((await app.inject({ method: 'GET', url: `/lockers/lk-a/commands/${txn}` })).statusCode).toBe(200);
    const elsewhere = await app.inject({ method: 'GET', url: `/lockers/lk-b/commands/${txn}` });
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.json<ErrorJson>().error.code).toBe('NOT_FOUND');
  });
});
