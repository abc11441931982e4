import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendServices } from '../backend-services.js';
import { revokeSigningKey } from '../codes/key-revocation.js';
import { testEngines } from '../testing/pg-test-db.js';
import { makeBackend, peerInstance, writeKey, type BackendFixture } from '../testing/backend-fixture.js';

// Several instances share one signing_keys table, each with its own keys directory. What
// one of them does at start, reload or revocation must never leave the fleet without an
// active key: the others follow the database (KeyStore.followRevocations) and would stop
// signing.

const OLD = 'k-20261101-old';
const NEW = 'k-20261120-new';
const engines = await testEngines('signing keys of several instances');

describe.each(engines)('signing keys shared by several instances on %s', (engine) => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  /** B is the fixture on OLD; A has OLD and NEW, loads, and so rotates the fleet to NEW. */
  async function rotatedOnA(): Promise<{ b: BackendFixture; a: BackendServices; aKeys: string }> {
    const b = await makeBackend({ kid: OLD, engine });
    f = b;
    const aKeys = join(b.dir, 'keys-a');
    mkdirSync(aKeys);
    for (const name of [`${OLD}.key`, `${OLD}.pub`, 'code-data.secret']) copyFileSync(join(b.dir, 'keys', name), join(aKeys, name));
    writeKey(b.ed, aKeys, NEW);
    const a = peerInstance(b, aKeys);
    await a.keys.load();
    return { b, a, aKeys };
  }

  const activeInDb = async (b: BackendFixture): Promise<string[]> =>
    (await b.store.signingKeys.all()).filter((k) => k.retiredAt === undefined && k.revokedAt === undefined).map((k) => k.kid);

  it('an instance whose directory holds only retired keys refuses to load and retires nothing', async () => {
    const { b, a } = await rotatedOnA();
    expect(await activeInDb(b)).toEqual([NEW]);
    const before = await b.store.signingKeys.all();

    // A restart with the old directory, and a SIGHUP reload of B, which never got NEW.
    const restarted = peerInstance(b, join(b.dir, 'keys'));
    await expect(restarted.keys.load()).rejects.toMatchObject({ code: 'CONFIG_INVALID', details: { kids: [OLD], fleetActive: NEW } });
    await expect(b.services.keys.load()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    expect(await b.store.signingKeys.all()).toEqual(before);
    // So the instances on NEW keep signing.
    expect(await a.keys.followRevocations()).toEqual({ outcome: 'unchanged' });
    expect(a.keys.activeKid).toBe(NEW);
  });

  it('pinning keys.activeKid brings a retired key back as the one active key, and a reload elsewhere follows it', async () => {
    const { b, a, aKeys } = await rotatedOnA();
    b.clock.advance(60_000);
    const rollback = peerInstance(b, aKeys, OLD);
    await rollback.keys.load();
    expect(await activeInDb(b)).toEqual([OLD]);
    const ring = await rollback.keys.keyringChanges();
    expect(ring.find((k) => k.kid === OLD)).not.toHaveProperty('notAfter');
    expect(ring.find((k) => k.kid === NEW)).toMatchObject({ op: 'trust', notAfter: b.clock.now() + b.config.pickup.tokenTtlMs });

    await a.keys.load();
    expect(a.keys.activeKid).toBe(OLD);
    expect(await activeInDb(b)).toEqual([OLD]);
  });

  it('an instance still on an older key cannot revoke the key the fleet signs with', async () => {
    const { b, a } = await rotatedOnA();
    expect(b.services.keys.activeKid).toBe(OLD);
    const deps = { store: b.store, keys: b.services.keys, tokens: b.services.tokens, codeSets: b.services.codeSets, clock: b.clock, logger: b.services.logger };
    await expect(revokeSigningKey(NEW, deps)).rejects.toMatchObject({ code: 'BUSINESS_RULE', message: expect.stringMatching(/active signing key of the fleet/) as string });
    expect(await activeInDb(b)).toEqual([NEW]);
    expect(await a.keys.followRevocations()).toEqual({ outcome: 'unchanged' });
  });

  it('an instance that cannot sign cannot revoke', async () => {
    const { b, a } = await rotatedOnA();
    await revokeSigningKey(OLD, { store: b.store, keys: a.keys, tokens: a.tokens, codeSets: a.codeSets, clock: b.clock, logger: b.services.logger });
    expect((await b.services.keys.followRevocations()).outcome).toBe('disabled');
    await expect(b.services.keys.revoke(NEW)).rejects.toMatchObject({ code: 'SIGNING_UNAVAILABLE' });
    expect(await activeInDb(b)).toEqual([NEW]);
  });

  it('refuses a key file that holds another key under a kid the fleet knows', async () => {
    const { b } = await rotatedOnA();
    writeKey(b.ed, join(b.dir, 'keys'), NEW); // same kid, freshly generated
    await expect(b.services.keys.load()).rejects.toMatchObject({ code: 'CONFIG_INVALID', details: { kid: NEW } });
    expect(await activeInDb(b)).toEqual([NEW]);
    expect(b.services.keys.activeKid).toBe(OLD);
  });
});
