import { afterEach, describe, expect, it, vi } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher, paidOrder, ship } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';

// A code-set change whose publish failed right after the commit (this instance could not
// sign at that moment, a serialisation failure, a dropped connection to the database) is
// still owed to the locker. A locker that stays connected sends no new birth message, so
// without a retry a cancelled parcel's code kept opening the compartment until the next
// unrelated change for that locker. The sweeper publishes what is left unpublished.

const engines = await testEngines('unpublished code-set changes');

describe.each(engines)('unpublished code-set changes (%s)', (engine) => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await f?.services.bridge.idle();
    await f?.close();
    f = undefined;
  });

  it('publishes a revocation whose first publish failed on the next sweep', async () => {
    const b = await makeBackend({ engine });
    f = b;
    await b.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const pub = new RecordingPublisher();
    b.services.bridge.attach(pub);
    const o = await paidOrder(b, 'ord-unpub', [{ lineId: 'l1', size: 'M' }]);
    await ship(b, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await b.services.bridge.idle();
    const entry = (await b.store.codeSets.liveEntries('lk-a'))[0]!;
    expect(pub.batches.at(-1)?.batch.upserts.map((u) => u.tokenId)).toEqual([entry.tokenId]);
    pub.batches.length = 0;

    // The publish right after the revocation fails (here: sealing, as on an instance that
    // has just lost its signing key).
    vi.spyOn(b.services.keys, 'sealSignerFor').mockRejectedValueOnce(new Error('signing unavailable'));
    expect(await b.services.codeSets.revoke('lk-a', entry.tokenId, 'cancelled')).toBe(true);
    await b.services.bridge.idle();
    expect(pub.batches).toEqual([]);
    const set = (await b.store.codeSets.get('lk-a'))!;
    expect(set.publishedVersion).toBeLessThan(set.version);

    await b.services.sweeper.tick();
    await b.services.bridge.idle();
    expect(pub.batches).toHaveLength(1);
    expect(pub.batches[0]!.batch).toMatchObject({ kind: 'delta', toVersion: set.version, revocations: [{ tokenId: entry.tokenId }] });
    expect((await b.store.codeSets.get('lk-a'))!.publishedVersion).toBe(set.version);

    // Nothing left: the next sweep publishes nothing again.
    await b.services.sweeper.tick();
    await b.services.bridge.idle();
    expect(pub.batches).toHaveLength(1);
  });
});
