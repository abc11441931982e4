import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pgSuitesRun } from '../testing/pg-test-db.js';
import { openTestStore } from '../testing/test-store.js';
import { T, scan, trackingRig } from '../testing/tracking-helpers.js';
import { sql } from './sql/sql-text.js';

// tracking_history is "append-only by trigger" (docs/backend.md) on both engines: the
// database itself refuses to change or remove a row, also by the statements that get past
// row triggers (SQLite's INSERT OR REPLACE, PostgreSQL's TRUNCATE).

const pg = await pgSuitesRun('history append-only');
const dir = mkdtempSync(join(tmpdir(), 'history-append-only-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function attempt(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'allowed';
  } catch {
    return 'refused';
  }
}

describe('tracking_history append-only enforcement', () => {
  it('sqlite: INSERT OR REPLACE cannot rewrite a history row (REPLACE deletes without firing the delete trigger)', async () => {
    const { store, dispose } = await openTestStore('sqlite', dir);
    try {
      const rig = trackingRig(store);
      await rig.send([scan('AO-1', 'in_transit', T)]);
      await rig.applier.drain();
      const [row] = await store.tracking.history('AO-1');
      const outcome = await attempt(() =>
        store.x.run(sql(`INSERT OR REPLACE INTO tracking_history (seq, tracking_number, hash, status, event_time, source, payload_id, received_at, event_json)
                         SELECT seq, tracking_number, hash, 'delivered', event_time, source, payload_id, received_at, replace(event_json, 'in_transit', 'delivered') FROM tracking_history WHERE hash = ?`), [row?.hash ?? '']),
      );
      const after = (await store.tracking.history('AO-1')).map((h) => h.event.status);
      expect({ outcome, after }).toEqual({ outcome: 'refused', after: ['in_transit'] });
    } finally {
      await dispose();
    }
  });

  it.runIf(pg)('postgres: TRUNCATE cannot empty the history (as DELETE cannot, on both engines)', async () => {
    const { store, dispose } = await openTestStore('postgres', dir);
    try {
      const rig = trackingRig(store);
      await rig.send([scan('AO-2', 'in_transit', T)]);
      await rig.applier.drain();
      const del = await attempt(() => store.x.run(sql(`DELETE FROM tracking_history`)));
      const truncate = await attempt(() => store.x.run(sql(`TRUNCATE tracking_history`)));
      expect({ del, truncate, left: (await store.tracking.history('AO-2')).length }).toEqual({ del: 'refused', truncate: 'refused', left: 1 });
    } finally {
      await dispose();
    }
  });
});
