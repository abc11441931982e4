import { afterEach, describe, expect, it } from 'vitest';
import { revokeSigningKey } from '../codes/key-revocation.js';
import { lockerInput, makeBackend, writeKey, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { lockerWouldAccept } from '@locker/sync-testing/locker-token-check.js';
import { Keyring } from '../shared/contract.js';
import { join } from 'node:path';

describe('signing keys', () => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  it('signs with the newest key and keeps the retired one trusted until its tokens expire', async () => {
    f = await makeBackend({ kid: 'k-20261101-old' });
    const oldKid = f.services.keys.activeKid;
    writeKey(f.ed, join(f.dir, 'keys'), 'k-20261120-new');
    f.clock.advance(1000);
    await f.services.keys.load();
    expect(f.services.keys.activeKid).toBe('k-20261120-new');
    const ring = await f.services.keys.keyringChanges();
    const old = ring.find((k) => k.kid === oldKid);
    expect(old).toMatchObject({ op: 'trust', notAfter: f.clock.now() + f.config.pickup.tokenTtlMs });
    expect(ring.find((k) => k.kid === 'k-20261120-new')).toEqual(expect.objectContaining({ op: 'trust' }));
    expect(ring.find((k) => k.kid === 'k-20261120-new')).not.toHaveProperty('notAfter');
  });

  it('seals for a locker with a key it already trusts until it acknowledges the new keyring', async () => {
    f = await makeBackend({ kid: 'k-20261101-old' });
    writeKey(f.ed, join(f.dir, 'keys'), 'k-20261120-new');
    await f.services.keys.load();
    expect((await f.services.keys.sealSignerFor(['k-20261101-old'])).kid).toBe('k-20261101-old');
    expect((await f.services.keys.sealSignerFor(['k-20261101-old', 'k-20261120-new'])).kid).toBe('k-20261120-new');
  });

  it('revoking a key re-issues its live tokens with the same code digest under the active key', async () => {
    f = await makeBackend({ kid: 'k-20261101-old' });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(f, 'ord-keys', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    const before = (await f.store.codeSets.liveEntries('lk-a'))[0]!;
    const versionBefore = (await f.store.codeSets.get('lk-a'))!.version;
    writeKey(f.ed, join(f.dir, 'keys'), 'k-20261120-new');
    await f.services.keys.load();
    const result = await revokeSigningKey('k-20261101-old', { store: f.store, keys: f.services.keys, tokens: f.services.tokens, codeSets: f.services.codeSets, clock: f.clock, logger: f.services.logger });
    expect(result.reissued).toBe(1);
    const after = await f.store.codeSets.liveEntries('lk-a');
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ kid: 'k-20261120-new', codeDigest: before.codeDigest, compartmentId: before.compartmentId });
    // Revoke, re-add and the keyring touch: three versions, one each.
    expect((await f.store.codeSets.get('lk-a'))!.version).toBe(versionBefore + 3);
    expect((await f.store.shipments.get(s.id))?.pickupTokenId).toBe(after[0]?.tokenId);
    const changes = await f.services.keys.keyringChanges();
    expect(changes).toContainEqual({ op: 'revoke', kid: 'k-20261101-old' });
    const rows = changes.flatMap((k) => (k.op === 'trust' ? [{ kid: k.kid, publicKey: k.publicKey, revoked: false }] : [{ kid: k.kid, publicKey: '', revoked: true }]));
    const ring = Keyring.fromRows(f.ed, rows);
    expect(lockerWouldAccept({ token: after[0]!.token, lockerId: 'lk-a', now: f.clock.now(), purposes: ['pickup'] }, ring, f.ed).ok).toBe(true);
    expect(lockerWouldAccept({ token: before.token, lockerId: 'lk-a', now: f.clock.now(), purposes: ['pickup'] }, ring, f.ed).ok).toBe(false);
    await expect(f.services.keys.revoke('k-20261120-new')).rejects.toThrow(/active signing key/);
  });

  it('a revocation stopped part way is finished by running it again: every token re-issued once, the key revoked once', async () => {
    f = await makeBackend({ kid: 'k-20261101-old' });
    for (const id of ['lk-a', 'lk-b', 'lk-c']) await f.services.lockers.register(lockerInput(id, 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(f, 'ord-resume', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M' }, { lineId: 'l3', size: 'M' }]);
    await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await ship(f, o.id, ['l2'], 'lk-b', 'M', 'TRK2');
    await ship(f, o.id, ['l3'], 'lk-c', 'M', 'TRK3');
    writeKey(f.ed, join(f.dir, 'keys'), 'k-20261120-new');
    await f.services.keys.load();
    const fx = f;
    const deps = { store: fx.store, keys: fx.services.keys, tokens: fx.services.tokens, codeSets: fx.services.codeSets, clock: fx.clock, logger: fx.services.logger };
    const kids = async (): Promise<string[]> => (await Promise.all(['lk-a', 'lk-b', 'lk-c'].map((l) => fx.store.codeSets.liveEntries(l)))).flat().map((e) => e.kid);
    // The process dies while it re-issues the second locker's token.
    const reissue = fx.services.tokens.reissueCodeToken.bind(fx.services.tokens);
    let calls = 0;
    fx.services.tokens.reissueCodeToken = (...args) => {
      if (++calls === 2) throw new Error('killed');
      return reissue(...args);
    };
    await expect(revokeSigningKey('k-20261101-old', deps)).rejects.toThrow('killed');
    // The first locker's token is re-issued and committed; the second's was undone whole;
    // the key is not revoked yet, so no locker is told to drop a token it still needs.
    expect(await kids()).toEqual(['k-20261120-new', 'k-20261101-old', 'k-20261101-old']);
    expect((await fx.services.keys.keyringChanges()).some((c) => c.op === 'revoke')).toBe(false);
    fx.services.tokens.reissueCodeToken = reissue;
    expect(await revokeSigningKey('k-20261101-old', deps)).toEqual({ reissued: 2 });
    expect(await kids()).toEqual(['k-20261120-new', 'k-20261120-new', 'k-20261120-new']);
    expect(await fx.services.keys.keyringChanges()).toContainEqual({ op: 'revoke', kid: 'k-20261101-old' });
  });

  it('generates numeric keypad codes of the configured length, unique among the locker live codes', async () => {
    const fx = await makeBackend({ config: { pickup: { codeDigits: 6 } } });
    f = fx;
    await fx.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 20 }));
    const o = await paidOrder(fx, 'ord-codes', Array.from({ length: 20 }, (_, i) => ({ lineId: `l${String(i)}`, size: 'M' as const })));
    const shipments = [];
    for (let i = 0; i < 20; i++) shipments.push(await ship(fx, o.id, [`l${String(i)}`], 'lk-a', 'M', `TRK${String(i)}`));
    const digests = (await fx.store.codeSets.liveEntries('lk-a')).map((e) => e.codeDigest);
    expect(new Set(digests).size).toBe(20);
    // The clear code exists only sealed on the shipment until it is handed over.
    const codes: string[] = [];
    for (const s of shipments) {
      const sealed = await fx.store.shipments.takePendingCode(s.id);
      expect(sealed).toBeDefined();
      codes.push(fx.services.codeBox.open(sealed!, s.id));
    }
    for (const c of codes) expect(c).toMatch(/^\d{6}$/);
  });
});
