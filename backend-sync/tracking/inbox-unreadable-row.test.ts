import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from '../store/sql/sql-text.js';
import { testEngines } from '../testing/pg-test-db.js';
import { openTestStore } from '../testing/test-store.js';
import { T, scan, trackingRig } from '../testing/tracking-helpers.js';

// docs/backend.md: "a number whose events still fail has them moved to dead letters, so one
// poisoned number never holds the rest back". An inbox row the applier cannot read back
// (written by another release during a rolling upgrade on PostgreSQL, or edited by hand)
// is such a poison: it should end in tracking_dead_letters, and the rest of the inbox applied.

const engines = await testEngines('unreadable inbox row');
const dir = mkdtempSync(join(tmpdir(), 'inbox-unreadable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(engines)('an unreadable inbox row (%s)', (engine) => {
  it('is dead-lettered and does not stop every other number from being applied', async () => {
    const { store, dispose } = await openTestStore(engine, dir);
    try {
      const rig = trackingRig(store);
      // An event of a newer release: a status this one does not know.
      const newer = JSON.stringify({ ...scan('IP-NEW', 'in_transit', T), status: 'held_at_customs' });
      await store.x.run(sql(`INSERT INTO tracking_payloads (id, source, body, received_at) VALUES ('tpl_newer', 'canonical', '{}', ${String(rig.clock.now())})`));
      await store.x.run(sql(`INSERT INTO tracking_inbox (tracking_number, payload_id, source, event_json, received_at) VALUES ('IP-NEW', 'tpl_newer', 'canonical', ?, ?)`), [newer, rig.clock.now()]);
      await rig.send([scan('IP-OK', 'picked_up', T)]);
      let drained: unknown;
      try {
        drained = await rig.applier.drain();
      } catch (err) {
        drained = `threw: ${err instanceof Error ? err.message : String(err)}`;
      }
      expect({
        drained,
        applied: (await store.tracking.projection('IP-OK'))?.projection.status ?? null,
        inbox: await store.tracking.inboxSize(),
        deadLetters: (await store.tracking.deadLetters()).length,
      }).toEqual({ drained: 2, applied: 'picked_up', inbox: 0, deadLetters: 1 });
      // Kept as stored, with the reason, for a replay once a release can read it.
      expect(await store.tracking.deadLetters()).toEqual([expect.objectContaining({ source: 'canonical', body: `{"events":[${newer}]}`, reason: expect.stringContaining('inbox row unreadable: corrupt row in tracking_inbox') as string })]);
      expect(rig.metrics.counts.dead_lettered).toBe(1);
    } finally {
      await dispose();
    }
  });
});
