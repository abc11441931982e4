import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, writeKey, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';

// A keys directory that gained a key without a reload that reached every locker (an
// instance restarted on it, or a reload cut short): the sweeper sends the new keyring to
// the lockers left behind, once, through the real bridge and SQLite.

describe('keyring reconcile', () => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  const lockers = ['lk-a', 'lk-b', 'lk-c'];
  const keyringOf = (lockerId: string): string[] | undefined =>
    pub.batches
      .filter((m) => m.batch.lockerId === lockerId)
      .at(-1)
      ?.batch.keyring.map((k) => k.kid)
      .sort();

  beforeEach(async () => {
    f = await makeBackend({ kid: 'k-20261101-old' });
    for (const [i, id] of lockers.entries()) await f.services.lockers.register(lockerInput(id, 52.52 + i / 100, 13.405, { M: 1 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
    // Each locker has been sent the keyring of the old key with a first batch.
    for (const id of lockers) await f.services.codeSets.touch(id);
    await f.services.bridge.idle();
    for (const id of lockers) expect(keyringOf(id)).toEqual(['k-20261101-old']);
  });
  afterEach(() => f.close());

  it('sends the new keyring to the lockers a key change did not reach, and only to them, once', async () => {
    writeKey(f.ed, join(f.dir, 'keys'), 'k-20261201-new');
    // What a restart does: load the directory, bump nobody.
    await f.services.keys.load();
    expect(f.services.keys.activeKid).toBe('k-20261201-new');
    // A reload that reached lk-a before it stopped.
    await f.services.codeSets.touch('lk-a');
    await f.services.bridge.idle();
    const before = pub.batches.length;
    expect(keyringOf('lk-a')).toEqual(['k-20261101-old', 'k-20261201-new']);

    await f.services.sweeper.tick();
    await f.services.bridge.idle();
    const sent = pub.batches.slice(before);
    expect(sent.map((m) => m.batch.lockerId).sort()).toEqual(['lk-b', 'lk-c']);
    for (const id of lockers) expect(keyringOf(id)).toEqual(['k-20261101-old', 'k-20261201-new']);

    // Nothing more to do: the next passes send nothing.
    await f.services.sweeper.tick();
    await f.services.sweeper.tick();
    await f.services.bridge.idle();
    expect(pub.batches.length).toBe(before + 2);
  });

  it('leaves lockers alone while their keyring is the current one', async () => {
    const before = pub.batches.length;
    await f.services.sweeper.tick();
    await f.services.bridge.idle();
    expect(pub.batches.length).toBe(before);
  });
});
