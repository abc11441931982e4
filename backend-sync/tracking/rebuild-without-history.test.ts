import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from '../store/sql/sql-text.js';
import type { SqlStore } from '../store/sql-store.js';
import { testEngines } from '../testing/pg-test-db.js';
import { openTestStore } from '../testing/test-store.js';
import { MIN, T, scan, trackingRig } from '../testing/tracking-helpers.js';
import { emptyProjection } from './core/tracking-fold.js';
import { carrierPromiseEta } from './eta-seam.js';
import { rebuildTracking } from './rebuild-tracking.js';

// The rebuild makes the derived tables the fold of history. A number with no history folds
// to the empty projection and to no read model and no review flags: a stray row of such a
// number (copied by hand, left by a bug, a number later renamed) was never looked at, so it
// survived a rebuild and GET /track served it. The empty projection row a scan-less
// shipment creates (it locks its number) is what that fold gives, and stays.

const engines = await testEngines('rebuild of numbers without history');
const dir = mkdtempSync(join(tmpdir(), 'rebuild-without-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** RW-A has scans; RW-STRAY gets copies of its derived rows but no history; RW-SHIP is a scan-less shipment's lock row. */
async function seeded(engine: 'sqlite' | 'postgres'): Promise<{ store: SqlStore; dispose(): Promise<void>; rig: ReturnType<typeof trackingRig> }> {
  const { store, dispose } = await openTestStore(engine, dir);
  const rig = trackingRig(store);
  await rig.send([scan('RW-A', 'picked_up', T), scan('RW-A', 'delivered', T + MIN)]);
  await rig.applier.drain();
  await rig.send([scan('RW-A', 'in_transit', T + 2 * MIN)]); // flagged: a step back after delivery
  await rig.applier.drain();
  await store.x.run(
    sql(`INSERT INTO tracking_state (tracking_number, carrier, status, state_json, version, updated_at)
         SELECT 'RW-STRAY', carrier, status, replace(state_json, 'RW-A', 'RW-STRAY'), version, updated_at FROM tracking_state WHERE tracking_number = 'RW-A'`),
  );
  await store.x.run(
    sql(`INSERT INTO tracking_read (tracking_number, doc_json, etag, updated_at)
         SELECT 'RW-STRAY', replace(doc_json, 'RW-A', 'RW-STRAY'), etag, updated_at FROM tracking_read WHERE tracking_number = 'RW-A'`),
  );
  await store.x.run(
    sql(`INSERT INTO tracking_review (hash, tracking_number, from_status, to_status, event_time, reason, flagged_at)
         SELECT 'stray-' || hash, 'RW-STRAY', from_status, to_status, event_time, reason, flagged_at FROM tracking_review WHERE tracking_number = 'RW-A'`),
  );
  await store.transaction(() => store.tracking.lockProjection('RW-SHIP', 'ups', rig.clock.now()));
  return { store, dispose, rig };
}

describe.each(engines)('rebuild of numbers without history (%s)', (engine) => {
  it('reports the stray projection, read model and flags of a number without history, and repairs them to its empty fold', async () => {
    const { store, dispose, rig } = await seeded(engine);
    try {
      const report = await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: true });
      expect(report.differences.map((d) => `${d.trackingNumber}:${d.what}`).sort()).toEqual(['RW-STRAY:flags', 'RW-STRAY:projection', 'RW-STRAY:read_model']);
      expect(await store.tracking.readModel('RW-STRAY')).toBeUndefined();
      expect(await store.tracking.flags('RW-STRAY')).toEqual([]);
      expect((await store.tracking.projection('RW-STRAY'))?.projection).toEqual(emptyProjection('RW-STRAY', 'ups'));
      // A second run finds nothing left.
      expect((await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: true })).differences).toEqual([]);
    } finally {
      await dispose();
    }
  });

  it('leaves the empty projection row of a scan-less shipment alone', async () => {
    const { store, dispose, rig } = await seeded(engine);
    try {
      const before = await store.tracking.projection('RW-SHIP');
      const report = await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: true });
      expect(report.differences.filter((d) => d.trackingNumber !== 'RW-STRAY')).toEqual([]);
      expect(await store.tracking.projection('RW-SHIP')).toEqual(before);
      expect(await store.tracking.readModel('RW-SHIP')).toBeUndefined();
    } finally {
      await dispose();
    }
  });

  it('only reports in a dry run, and a lone read model without any projection row is found too', async () => {
    const { store, dispose, rig } = await seeded(engine);
    try {
      await store.x.run(sql(`DELETE FROM tracking_state WHERE tracking_number = 'RW-STRAY'`));
      await store.x.run(sql(`DELETE FROM tracking_review WHERE tracking_number = 'RW-STRAY'`));
      const report = await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: false });
      expect(report.differences.map((d) => `${d.trackingNumber}:${d.what}`)).toEqual(['RW-STRAY:read_model']);
      expect(await store.tracking.readModel('RW-STRAY')).toBeDefined();
      expect(await store.tracking.projection('RW-STRAY')).toBeUndefined();
    } finally {
      await dispose();
    }
  });
});
