import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockerWouldAccept } from '@locker/sync-testing/locker-token-check.js';
import type { BackendServices } from '../backend-services.js';
import { Keyring, encodeMessage, newEnvelope, topicFor } from '../shared/contract.js';
import { isBackendError } from '../shared/errors.js';
import { lockerInput, makeBackend, peerInstance, writeKey, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { revokeSigningKey } from './key-revocation.js';
import { signedUplinkSubscriptionsFor } from '../locker-sync/locker-bridge.js';
import { pauseSignedUplinksWhileUnavailable } from '../locker-sync/signed-uplinks.js';

// Two instances of one deployment on one database: A revokes a key, B was never reloaded
// and still signs with it. B is the fixture (its sweeper, its app); A is a second set of
// services over the same store with its own keys directory, as a second process would be.

const OLD = 'k-20261101-old';
const NEW = 'k-20261120-new';
const PREV = 'k-20260801-prev';
const STRAY = 'k-20261201-stray';
const DAY = 86_400_000;

describe('following a revocation made by another instance', () => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  async function instanceA(b: BackendFixture, keysDir: string): Promise<BackendServices> {
    const a = peerInstance(b, keysDir);
    await a.keys.load();
    return a;
  }

  const revokeOn = (a: BackendServices, b: BackendFixture, kid: string): Promise<{ reissued: number }> =>
    revokeSigningKey(kid, { store: b.store, keys: a.keys, tokens: a.tokens, codeSets: a.codeSets, clock: b.clock, logger: b.services.logger });

  /** What a locker holding the backend's current keyring would do with the token. */
  async function lockerAccepts(b: BackendFixture, token: string): Promise<boolean> {
    const rows = (await b.services.keys.keyringChanges()).map((k) => (k.op === 'trust' ? { kid: k.kid, publicKey: k.publicKey, revoked: false } : { kid: k.kid, publicKey: '', revoked: true }));
    return lockerWouldAccept({ token, lockerId: 'lk-a', now: b.clock.now(), purposes: ['pickup'] }, Keyring.fromRows(b.ed, rows), b.ed).ok;
  }

  /**
   * A's directory: the deployment's old key and data key, plus NEW, which B never got. A
   * loads it (NEW becomes the fleet's active key) and revokes OLD.
   */
  async function revokedOnA(b: BackendFixture): Promise<{ a: BackendServices; aKeys: string }> {
    const bKeys = join(b.dir, 'keys');
    const aKeys = join(b.dir, 'keys-a');
    mkdirSync(aKeys);
    for (const name of [`${OLD}.key`, `${OLD}.pub`, 'code-data.secret']) copyFileSync(join(bKeys, name), join(aKeys, name));
    writeKey(b.ed, aKeys, NEW);
    const a = await instanceA(b, aKeys);
    await revokeOn(a, b, OLD);
    return { a, aKeys };
  }

  it('switches to the newer key in its directory and re-issues the tokens it signed with the revoked one meanwhile', async () => {
    const b = await makeBackend({ kid: OLD });
    f = b;
    await b.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 3 }));
    const o = await paidOrder(b, 'ord-follow', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M' }, { lineId: 'l3', size: 'M' }]);
    await ship(b, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    // The new key reaches the shared directory; A is reloaded, B is not.
    writeKey(b.ed, join(b.dir, 'keys'), NEW);
    const a = await instanceA(b, join(b.dir, 'keys'));
    expect([a.keys.activeKid, b.services.keys.activeKid]).toEqual([NEW, OLD]);
    expect(await revokeOn(a, b, OLD)).toEqual({ reissued: 1 });

    // B does not know yet: the parcel it ships now gets a token every locker refuses.
    const late = await ship(b, o.id, ['l2'], 'lk-a', 'M', 'TRK2');
    const lateEntry = (await b.store.codeSets.liveEntries('lk-a')).find((e) => e.shipmentId === late.id)!;
    expect(lateEntry.kid).toBe(OLD);
    expect(await lockerAccepts(b, lateEntry.token)).toBe(false);

    await b.services.sweeper.tick();
    expect(b.services.keys.activeKid).toBe(NEW);
    const live = await b.store.codeSets.liveEntries('lk-a');
    expect(live.map((e) => e.kid)).toEqual([NEW, NEW]);
    const reissued = live.find((e) => e.shipmentId === late.id)!;
    expect(reissued.codeDigest).toBe(lateEntry.codeDigest);
    expect((await b.store.shipments.get(late.id))?.pickupTokenId).toBe(reissued.tokenId);
    for (const e of live) expect(await lockerAccepts(b, e.token)).toBe(true);
    expect(await b.store.codeSets.lockersWithLiveKid(OLD)).toEqual([]);

    // B signs with the new key from now on, and a pass with nothing to do changes nothing.
    await ship(b, o.id, ['l3'], 'lk-a', 'M', 'TRK3');
    const version = (await b.store.codeSets.get('lk-a'))!.version;
    await b.services.sweeper.tick();
    expect((await b.store.codeSets.get('lk-a'))!.version).toBe(version);
    expect((await b.store.codeSets.liveEntries('lk-a')).map((e) => e.kid)).toEqual([NEW, NEW, NEW]);
  });

  it('stops signing when its directory holds no other key, says so on /health and /metrics, and resumes when a key arrives', async () => {
    const b = await makeBackend({ kid: OLD });
    f = b;
    await b.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(b, 'ord-stop', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M' }]);
    await ship(b, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    // A's directory: the deployment's old key and data key, plus a new key B never got.
    const bKeys = join(b.dir, 'keys');
    const subscriptions: string[] = [];
    const transport = {
      pause: (filters: readonly string[]) => Promise.resolve(void subscriptions.push(`pause ${filters.join(',')}`)),
      resume: (filters: readonly string[]) => Promise.resolve(void subscriptions.push(`resume ${filters.join(',')}`)),
    };
    const signed = signedUplinkSubscriptionsFor('fleet');
    pauseSignedUplinksWhileUnavailable(b.services.keys, transport, signed, b.services.logger);
    const { aKeys } = await revokedOnA(b);

    await b.services.sweeper.tick();
    expect(b.services.keys.signingAvailable).toBe(false);
    // The group takes the uplinks B would store and never ack; a second pass changes nothing.
    await b.services.sweeper.tick();
    expect(subscriptions).toEqual([`pause ${signed.join(',')}`]);
    const refused = await ship(b, o.id, ['l2'], 'lk-a', 'M', 'TRK2').catch((err: unknown) => err);
    expect(isBackendError(refused, 'SIGNING_UNAVAILABLE')).toBe(true);
    await expect(b.services.keys.sealSignerFor([NEW])).rejects.toMatchObject({ code: 'SIGNING_UNAVAILABLE' });
    const app = await b.app();
    const viaHttp = await app.inject({ method: 'POST', url: `/orders/${o.id}/shipments`, payload: { lineIds: ['l2'], carrier: 'dhl', trackingNumber: 'TRK2', delivery: { lockerId: 'lk-a', size: 'M' } } });
    expect(viaHttp.statusCode).toBe(503);
    expect(viaHttp.json()).toMatchObject({ error: { code: 'SIGNING_UNAVAILABLE', details: { previousKid: OLD, cause: 'revoked' } } });
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: 'degraded', signing: 'unavailable' });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^backend_signing_available 0$/m);
    // Nothing B issued is live under the revoked key: A re-issued it before revoking.
    expect(await b.store.codeSets.lockersWithLiveKid(OLD)).toEqual([]);

    // The operator copies the new key over; the next pass picks it up without a reload.
    for (const name of [`${NEW}.key`, `${NEW}.pub`]) copyFileSync(join(aKeys, name), join(bKeys, name));
    await b.services.sweeper.tick();
    expect(b.services.keys.signingAvailable).toBe(true);
    expect(b.services.keys.activeKid).toBe(NEW);
    expect(subscriptions).toEqual([`pause ${signed.join(',')}`, `resume ${signed.join(',')}`]);
    const s2 = await ship(b, o.id, ['l2'], 'lk-a', 'M', 'TRK2');
    const entry = (await b.store.codeSets.liveEntries('lk-a')).find((e) => e.shipmentId === s2.id)!;
    expect(entry.kid).toBe(NEW);
    expect(await lockerAccepts(b, entry.token)).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ status: 'ok', signing: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^backend_signing_available 1$/m);
  });

  it('follows only the key the fleet made active: an old retired key or a stray key in its directory is never chosen, and nothing is retired', async () => {
    const b = await makeBackend({ kid: OLD });
    f = b;
    const bKeys = join(b.dir, 'keys');
    // B's directory still holds PREV, the deployment's key until 90 days ago, and STRAY, a
    // key generated on this host that the fleet never saw (newest by name).
    const prev = writeKey(b.ed, bKeys, PREV);
    await b.store.signingKeys.upsertSeen(PREV, prev.publicKey, b.clock.now() - 200 * DAY);
    await b.store.signingKeys.retire(PREV, b.clock.now() - 90 * DAY);
    writeKey(b.ed, bKeys, STRAY);
    const { aKeys } = await revokedOnA(b);
    const before = await b.store.signingKeys.all();

    await b.services.sweeper.tick();
    expect(b.services.keys.signingAvailable).toBe(false);
    await expect(b.services.keys.sealSignerFor([PREV, STRAY])).rejects.toMatchObject({ code: 'SIGNING_UNAVAILABLE', details: { reason: `the active signing key ${NEW} is not in the keys directory` } });
    // The database is as A left it: NEW active, PREV retired when it was, STRAY unknown.
    expect(await b.store.signingKeys.all()).toEqual(before);
    expect((await b.store.signingKeys.all()).map((k) => k.kid)).not.toContain(STRAY);
    const ring = await b.services.keys.keyringChanges();
    expect(ring.find((k) => k.kid === NEW)).toEqual({ op: 'trust', kid: NEW, publicKey: expect.any(String) as string });

    // With NEW copied in, B follows NEW although STRAY sorts newer.
    for (const name of [`${NEW}.key`, `${NEW}.pub`]) copyFileSync(join(aKeys, name), join(bKeys, name));
    await b.services.sweeper.tick();
    expect([b.services.keys.signingAvailable, b.services.keys.activeKid]).toEqual([true, NEW]);
    expect(await b.store.signingKeys.all()).toEqual(before);
  });

  it('does not follow a file named after the active key that holds another key', async () => {
    const b = await makeBackend({ kid: OLD });
    f = b;
    const bKeys = join(b.dir, 'keys');
    await revokedOnA(b);
    writeKey(b.ed, bKeys, NEW); // same kid, freshly generated: not the key the lockers trust

    await b.services.sweeper.tick();
    expect(b.services.keys.signingAvailable).toBe(false);
    const app = await b.app();
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ status: 'degraded', signing: 'unavailable' });
  });

  it('leaves commands to the instances that can sign: none is stored or leased by one that cannot', async () => {
    const b = await makeBackend({ kid: OLD });
    f = b;
    await b.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    await b.services.bridge.onMessage(
      topicFor('lk-a', 'presence'),
      encodeMessage('presence', {
        ...newEnvelope('presence', b.clock.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0',
        codeSet: await b.store.codeSets.ensure('lk-a'), audit: { highSeq: 0, ackedSeq: 0 },
      }),
    );
    const { a } = await revokedOnA(b);
    await b.services.sweeper.tick();
    expect(b.services.keys.signingAvailable).toBe(false);

    const app = await b.app();
    const refused = await app.inject({ method: 'POST', url: '/lockers/lk-a/commands', payload: { command: { kind: 'resync' } } });
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ error: { code: 'SIGNING_UNAVAILABLE' } });
    expect(await b.store.commands.claimDue(b.clock.now(), 0, 100)).toEqual([]);

    // A stores one; B's sweeps do not lease it away from A, which publishes it.
    const published: string[] = [];
    a.commands.attach({ publish: (topic) => Promise.resolve(void published.push(topic)) });
    const sent = await a.commands.send('lk-a', { kind: 'resync' }, 'support', 60_000);
    expect(published).toEqual([topicFor('lk-a', 'cmd')]);
    b.clock.advance(6_000);
    await b.services.sweeper.tick();
    expect(await b.services.commands.publishDue()).toBe(0);
    expect(await a.commands.publishDue()).toBe(1);
    expect(published).toHaveLength(2);
    expect((await a.commands.get(sent.transactionId)).attempts).toBe(2);
  });
});
