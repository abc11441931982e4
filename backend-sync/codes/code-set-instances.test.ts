import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBackendServices, type BackendServices } from '../backend-services.js';
import { parseConfig } from '../config/config.js';
import { SimulatedPaymentProvider } from '../payments/simulated-payment-provider.js';
import { ManualClock } from '../shared/clock.js';
import { EMPTY_CODE_SET_DIGEST, createEd25519, toggleCodeSetDigest, type CodeBatchMessage } from '../shared/contract.js';
import { silentLogger } from '../shared/logger.js';
import { openPgStore } from '../store/open-store.js';
import type { SqlStore } from '../store/sql-store.js';
import { T0, lockerInput, writeKey } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';
import { PG_URL, dropSchema, freshSchemaName, pgSuitesRun } from '../testing/pg-test-db.js';

// Two backend instances (two stores, two sets of services, two bridges) on ONE PostgreSQL
// schema, each adding codes for the same locker and publishing what changed, all at once:
// every code-set version must be given to exactly one change, published exactly once, and
// the batches, applied in order, must rebuild exactly the set the database holds (issue 9).
// PostgreSQL only: two SQLite connections in ONE process cannot interleave transactions
// (better-sqlite3 waits for the file lock synchronously, blocking the very event loop the
// lock holder needs), so instances on one SQLite file are separate processes.

interface Instance {
  store: SqlStore;
  services: BackendServices;
  pub: RecordingPublisher;
}

const LOCKER = 'lk-shared';
const logger = silentLogger();
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function instances(n: number): Promise<Instance[]> {
  const dir = mkdtempSync(join(tmpdir(), 'code-set-instances-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const keysDir = join(dir, 'keys');
  const ed = createEd25519('node-crypto');
  writeKey(ed, keysDir, 'k-20261101-shared');
  const schema = freshSchemaName();
  cleanups.push(() => dropSchema(schema));
  const out: Instance[] = [];
  for (let i = 0; i < n; i++) {
    const store = await openPgStore({ url: PG_URL, schema, poolSize: 4 }, logger);
    const config = parseConfig({ db: { path: join(dir, 'backend.db') }, keys: { dir: keysDir }, mqtt: { enabled: false } });
    const services = createBackendServices({ config, store, clock: new ManualClock(T0), logger, ed, payments: new SimulatedPaymentProvider(), channels: [] });
    cleanups.push(async () => {
      await services.bridge.idle();
      await store.close();
    });
    // One after the other: the first creates the code-sealing key the others then read.
    await services.keys.load();
    const pub = new RecordingPublisher();
    services.bridge.attach(pub);
    out.push({ store, services, pub });
  }
  return out;
}

/** A pickup code for a new parcel, issued and added by one instance in its own transaction. */
async function addCode(x: Instance, parcelId: string): Promise<void> {
  const pepper = (await x.store.lockers.pepper(LOCKER))!;
  const { codeSets } = x.store;
  const t = await x.services.tokens.codeToken('pickup', LOCKER, pepper, { compartmentId: 'M1', parcelId, size: 'M' }, (d) => codeSets.liveDigestExists(LOCKER, d));
  const added = await x.services.codeSets.add({ lockerId: LOCKER, tokenId: t.tokenId, token: t.token, codeDigest: t.codeDigest, parcelId, compartmentId: 'M1', size: 'M', kind: 'pickup', kid: t.kid, expiresAt: t.expiresAt });
  expect(added).toBe(true);
}

describe.skipIf(!(await pgSuitesRun('code sets shared by instances')))('code sets shared by two instances on PostgreSQL', () => {
  it('gives every version to one change, publishes it once, and the batches rebuild the stored set', async () => {
    const [a, b] = await instances(2);
    if (a === undefined || b === undefined) throw new Error('two instances expected');
    await a.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { M: 1 }));
    const parcels = Array.from({ length: 24 }, (_, i) => `P${String(i).padStart(2, '0')}`);
    await Promise.all(parcels.map((p, i) => addCode(i % 2 === 0 ? a : b, p)));
    // Both instances also try to publish whatever is pending, on top of their own changes.
    await Promise.all([a.services.bridge.publishDelta(LOCKER), b.services.bridge.publishDelta(LOCKER)]);
    await Promise.all([a.services.bridge.idle(), b.services.bridge.idle()]);

    const set = (await a.store.codeSets.get(LOCKER))!;
    const live = await a.store.codeSets.liveEntries(LOCKER);
    expect(set.version).toBe(parcels.length);
    expect(new Set(live.map((e) => e.addedVersion)).size).toBe(parcels.length);
    expect(set.publishedVersion).toBe(set.version);

    const batches: CodeBatchMessage[] = [...a.pub.batches, ...b.pub.batches].sort((x, y) => x.batch.fromVersion - y.batch.fromVersion);
    let version = 0;
    let digest = EMPTY_CODE_SET_DIGEST;
    const held = new Set<string>();
    for (const { batch } of batches) {
      // Contiguous and disjoint: no version is published twice, none is skipped.
      expect(batch.fromVersion).toBe(version);
      for (const u of batch.upserts) {
        digest = toggleCodeSetDigest(digest, u.tokenId, u.token);
        held.add(u.tokenId);
      }
      version = batch.toVersion;
    }
    expect(version).toBe(set.version);
    expect(digest).toBe(set.digest);
    expect([...held].sort()).toEqual(live.map((e) => e.tokenId).sort());
  }, 60_000);
});
