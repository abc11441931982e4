import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import type { App } from '../http/app.js';
import { lockerInput, makeBackend, writeKey, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';

// Reloading the keys directory at run time, through the real HTTP route and SQLite.

const admin = 'admin-key-0123456789abcdef';
const merchant = 'merchant-key-0123456789abcdef';

describe('key reload', () => {
  let f: BackendFixture;
  let app: App;
  let pub: RecordingPublisher;
  const reload = (key = admin) => app.inject({ method: 'POST', url: '/admin/keys/reload', headers: { authorization: `Bearer ${key}` } });
  beforeEach(async () => {
    f = await makeBackend({
      kid: 'k-20261101-old',
      config: { auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: apiKeyDigest(admin) }, { id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(merchant) }] } },
    });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
    app = await f.app();
  });
  afterEach(() => f.close());

  it('activates a key added to the directory without a restart and sends the new keyring to every locker', async () => {
    writeKey(f.ed, join(f.dir, 'keys'), 'k-20261201-new');
    const res = await reload();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ activeKid: 'k-20261201-new', previousKid: 'k-20261101-old', keyringChanged: true, lockersNotified: 1 });
    expect(f.services.tokens.courierToken('lk-a', 'c-1').kid).toBe('k-20261201-new');
    await f.services.bridge.idle();
    const keyring = pub.batches.at(-1)?.batch.keyring.map((k) => k.kid);
    expect(keyring).toEqual(expect.arrayContaining(['k-20261101-old', 'k-20261201-new']));
  });

  it('keeps the keys in use when the directory cannot be loaded, answering 422', async () => {
    writeFileSync(join(f.dir, 'keys', 'k-20261201-bad.key'), 'not a key\n');
    const res = await reload();
    expect(res.statusCode).toBe(422);
    expect(f.services.keys.activeKid).toBe('k-20261101-old');
    rmSync(join(f.dir, 'keys', 'k-20261201-bad.key'));
    const again = await reload();
    expect(again.json()).toMatchObject({ activeKid: 'k-20261101-old', keyringChanged: false, lockersNotified: 0 });
  });

  it('is an admin route: a merchant key gets 403', async () => {
    expect((await reload(merchant)).statusCode).toBe(403);
  });
});
