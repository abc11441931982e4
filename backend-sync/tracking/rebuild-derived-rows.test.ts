import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from '../store/sql/sql-text.js';
import type { SqlStore } from '../store/sql-store.js';
import { testEngines } from '../testing/pg-test-db.js';
import { openTestStore } from '../testing/test-store.js';
import { MIN, T, scan, trackingRig } from '../testing/tracking-helpers.js';
import { carrierPromiseEta } from './eta-seam.js';
import { rebuildTracking } from './rebuild-tracking.js';

// The rebuild is the operator's tool to make the derived tables equal the fold of history
// again. A derived row that no longer parses (hand-edited with psql, written by older code)
// is exactly such a difference: reported and repaired, and the other numbers still checked,
// not the whole run aborted at the first such row. Review flags are compared by what the
// fold decides of each, and a repair leaves the rows that agree (and when they were
// flagged) as they were.

const engines = await testEngines('rebuild with corrupt or differing derived rows');
const dir = mkdtempSync(join(tmpdir(), 'rebuild-derived-rows-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function seeded(engine: 'sqlite' | 'postgres'): Promise<{ store: SqlStore; dispose(): Promise<void>; rig: ReturnType<typeof trackingRig> }> {
  const { store, dispose } = await openTestStore(engine, dir);
  const rig = trackingRig(store);
  await rig.send([scan('RC-A', 'picked_up', T), scan('RC-A', 'in_transit', T + MIN), scan('RC-B', 'picked_up', T), scan('RC-C', 'picked_up', T)]);
  await rig.applier.drain();
  return { store, dispose, rig };
}

describe.each(engines)('rebuild with a corrupt derived row (%s)', (engine) => {
  it('reports and repairs a projection whose state_json no longer matches its schema, and checks the other numbers', async () => {
    const { store, dispose, rig } = await seeded(engine);
    try {
      await store.x.run(sql(`UPDATE tracking_state SET state_json = '{"trackingNumber":"RC-A"}' WHERE tracking_number = 'RC-A'`));
      await store.x.run(sql(`UPDATE tracking_read SET doc_json = '{}' WHERE tracking_number = 'RC-C'`));
      let outcome: unknown;
      try {
        const report = await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: true });
        outcome = report.differences.map((d) => `${d.trackingNumber}:${d.what}`).sort();
      } catch (err) {
        outcome = `threw: ${err instanceof Error ? err.message : String(err)}`;
      }
      expect(outcome).toEqual(expect.arrayContaining(['RC-A:projection', 'RC-C:read_model']));
      expect((await store.tracking.projection('RC-A'))?.projection.status).toBe('in_transit');
    } finally {
      await dispose();
    }
  });

  it('reports and repairs a read model whose doc_json is not JSON', async () => {
    const { store, dispose, rig } = await seeded(engine);
    try {
      await store.x.run(sql(`UPDATE tracking_read SET doc_json = '{"trackingNumber":"RC-B",' WHERE tracking_number = 'RC-B'`));
      let outcome: unknown;
      try {
        const report = await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: true });
        outcome = report.differences.map((d) => `${d.trackingNumber}:${d.what}`).sort();
      } catch (err) {
        outcome = `threw: ${err instanceof Error ? err.message : String(err)}`;
      }
      expect(outcome).toEqual(['RC-B:read_model']);
      expect(JSON.parse((await store.tracking.readModel('RC-B'))?.docJson ?? 'null')).toMatchObject({ trackingNumber: 'RC-B', status: 'picked_up' });
    } finally {
      await dispose();
    }
  });
});

describe.each(engines)('rebuild of review flags (%s)', (engine) => {
  it('reports a review flag whose content (from, to) differs from the fold, not only a missing or extra hash', async () => {
    const { store, dispose } = await openTestStore(engine, dir);
    try {
      const rig = trackingRig(store);
      // delivered, then a late-applied step backwards: flagged for review
      await rig.send([scan('RU-F', 'picked_up', T), scan('RU-F', 'delivered', T + MIN)]);
      await rig.applier.drain();
      await rig.send([scan('RU-F', 'in_transit', T + 2 * MIN)]);
      await rig.applier.drain();
      const flags = await store.tracking.flags('RU-F');
      expect(flags).toHaveLength(1);
      await store.x.run(sql(`UPDATE tracking_review SET from_status = 'label_created', to_status = 'collected', reason = 'edited' WHERE tracking_number = 'RU-F'`));
      const report = await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: true });
      expect(report.differences.map((d) => `${d.trackingNumber}:${d.what}`)).toEqual(['RU-F:flags']);
    } finally {
      await dispose();
    }
  });
});

describe.each(engines)('rebuild repair of another difference (%s)', (engine) => {
  it('keeps when each event was flagged (flagged_at) for review rows it did not change', async () => {
    const { store, dispose } = await openTestStore(engine, dir);
    try {
      const rig = trackingRig(store);
      await rig.send([scan('RU-T', 'picked_up', T), scan('RU-T', 'delivered', T + MIN)]);
      await rig.applier.drain();
      await rig.send([scan('RU-T', 'in_transit', T + 2 * MIN)]);
      await rig.applier.drain();
      const before = (await store.tracking.flags('RU-T')).map((f) => ({ hash: f.hash, flaggedAt: f.flaggedAt }));
      expect(before).toHaveLength(1);
      rig.clock.advance(5 * 24 * 3_600_000); // the operator runs the repair days later
      await store.x.run(sql(`UPDATE tracking_read SET doc_json = '{}' WHERE tracking_number = 'RU-T'`));
      const report = await rebuildTracking(store, rig.clock, carrierPromiseEta, { write: true });
      expect(report.differences.map((d) => d.what)).toEqual(['read_model']);
      expect((await store.tracking.flags('RU-T')).map((f) => ({ hash: f.hash, flaggedAt: f.flaggedAt }))).toEqual(before);
    } finally {
      await dispose();
    }
  });
});
