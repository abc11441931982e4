import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendServices } from '../backend-services.js';
import { revokeSigningKey } from '../codes/key-revocation.js';
import { testEngines } from '../testing/pg-test-db.js';
import { makeBackend, peerInstance, writeKey, type BackendFixture } from '../testing/backend-fixture.js';
import { signal } from '../testing/signal.js';

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
    const rollback = peerInstance(b, aKeys, { activeKid: OLD });
    await rollback.keys.load();
    expect(await activeInDb(b)).toEqual([OLD]);
    const ring = await rollback.keys.keyringChanges();
    expect(ring.find((k) => k.kid === OLD)).not.toHaveProperty('notAfter');
    expect(ring.find((k) => k.kid === NEW)).toMatchObject({ op: 'trust', notAfter: b.clock.now() + b.config.pickup.tokenTtlMs });

    // A follows the rollback within a sweep, and a restart without the pin keeps OLD.
    expect(await a.keys.followRevocations()).toEqual({ outcome: 'switched', previousKid: NEW, cause: 'retired', activeKid: OLD });
    await a.keys.load();
    expect(a.keys.activeKid).toBe(OLD);
    expect(await activeInDb(b)).toEqual([OLD]);
  });

  it('a key staged beside a pinned one is not retired, and becomes active once the pin goes', async () => {
    const { b, aKeys } = await rotatedOnA();
    const NEWER = 'k-20261201-newer';
    writeKey(b.ed, aKeys, NEWER);
    await peerInstance(b, aKeys, { activeKid: NEW }).keys.load();
    expect(await activeInDb(b)).toEqual([NEW]);
    expect((await b.store.signingKeys.all()).map((k) => k.kid)).not.toContain(NEWER);

    const unpinned = peerInstance(b, aKeys);
    await unpinned.keys.load();
    expect(unpinned.keys.activeKid).toBe(NEWER);
    expect(await activeInDb(b)).toEqual([NEWER]);
  });

  it('instances rotating at the same moment leave exactly one active key', async () => {
    const b = await makeBackend({ kid: OLD, engine });
    f = b;
    for (let round = 0; round < 5; round++) {
      const dirs = ['x', 'y'].map((side) => {
        const dir = join(b.dir, `keys-${side}${String(round)}`);
        mkdirSync(dir);
        for (const name of [`${OLD}.key`, `${OLD}.pub`, 'code-data.secret']) copyFileSync(join(b.dir, 'keys', name), join(dir, name));
        writeKey(b.ed, dir, `k-2026120${String(round)}-${side}`);
        return dir;
      });
      await Promise.allSettled(dirs.map((dir) => peerInstance(b, dir).keys.load()));
      expect(await activeInDb(b)).toHaveLength(1);
    }
  });

  it('an instance still on a key another instance rotated past follows it, or stops signing without it', async () => {
    const b = await makeBackend({ kid: OLD, engine });
    f = b;
    const cKeys = join(b.dir, 'keys-c');
    mkdirSync(cKeys);
    for (const name of [`${OLD}.key`, `${OLD}.pub`, 'code-data.secret']) copyFileSync(join(b.dir, 'keys', name), join(cKeys, name));
    const c = peerInstance(b, cKeys);
    await c.keys.load();
    const aKeys = join(b.dir, 'keys-a');
    mkdirSync(aKeys);
    for (const name of [`${OLD}.key`, `${OLD}.pub`, 'code-data.secret']) copyFileSync(join(b.dir, 'keys', name), join(aKeys, name));
    writeKey(b.ed, aKeys, NEW);
    copyFileSync(join(aKeys, `${NEW}.key`), join(cKeys, `${NEW}.key`)); // the operator copies the new key everywhere first
    await peerInstance(b, aKeys).keys.load();

    expect(await c.keys.followRevocations()).toEqual({ outcome: 'switched', previousKid: OLD, cause: 'retired', activeKid: NEW });
    expect(await b.services.keys.followRevocations()).toMatchObject({ outcome: 'disabled', previousKid: OLD, cause: 'retired' });
    expect(() => b.services.keys.tokenIssuer()).toThrow(expect.objectContaining({ code: 'SIGNING_UNAVAILABLE' }) as Error);
  });

  it('names no fleet key that the config itself revokes', async () => {
    const { b, aKeys } = await rotatedOnA();
    const revokingActive = peerInstance(b, aKeys, { revokedKids: [NEW] });
    await expect(revokingActive.keys.load()).rejects.toMatchObject({ code: 'CONFIG_INVALID', details: { kids: [OLD], fleetActive: null } });
    expect(await activeInDb(b)).toEqual([NEW]);
  });

  it('a revocation racing a rollback to the same key is refused, and one key stays active', async () => {
    const { b, a, aKeys } = await rotatedOnA();
    // Hold the rollback inside its load transaction, after it took the lock and read.
    const repo = b.store.signingKeys;
    const upsertSeen = repo.upsertSeen.bind(repo);
    const inside = signal();
    const release = signal();
    repo.upsertSeen = async (...args) => {
      repo.upsertSeen = upsertSeen;
      inside.fire();
      await release.wait;
      return upsertSeen(...args);
    };
    const loading = peerInstance(b, aKeys, { activeKid: OLD }).keys.load();
    await inside.wait;
    // OLD is retired as far as any other transaction can see, so without the lock this passes its check.
    const revoking = a.keys.revoke(OLD).then(
      () => 'revoked',
      (err: unknown) => err,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    release.fire();
    await loading;
    expect(await revoking).toMatchObject({ code: 'BUSINESS_RULE' });
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

  it('an instance that cannot sign cannot revoke, not even a retired key', async () => {
    const { b } = await rotatedOnA();
    expect((await b.services.keys.followRevocations()).outcome).toBe('disabled');
    await expect(b.services.keys.revoke(OLD)).rejects.toMatchObject({ code: 'SIGNING_UNAVAILABLE' });
    expect((await b.store.signingKeys.all()).find((k) => k.kid === OLD)).toMatchObject({ retiredAt: expect.any(Number) as number });
    expect((await b.store.signingKeys.all()).find((k) => k.kid === OLD)).not.toHaveProperty('revokedAt');
  });

  it('refuses a key file that holds another key under a kid the fleet knows', async () => {
    const { b } = await rotatedOnA();
    writeKey(b.ed, join(b.dir, 'keys'), NEW); // same kid, freshly generated
    await expect(b.services.keys.load()).rejects.toMatchObject({ code: 'CONFIG_INVALID', details: { kid: NEW } });
    expect(await activeInDb(b)).toEqual([NEW]);
    expect(b.services.keys.activeKid).toBe(OLD);
  });
});
