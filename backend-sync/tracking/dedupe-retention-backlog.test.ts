import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import { testEngines } from '../testing/pg-test-db.js';
import { openTestStore } from '../testing/test-store.js';
import { T, scan, trackingRig } from '../testing/tracking-helpers.js';
import { TRACKING_DEDUPE_RETENTION_MS } from './tracking-services.js';

// A provider replays a scan (same carrier event id, a detail of its wording updated) on day
// 29, inside the 30-day dedupe window, during an incident: the replay waits in the inbox (a
// backlog) while the sweeper's dedupe retention runs. The key that protects against it
// stays, and the composite level measures its window from when the replay was received.

const DAY = 86_400_000;
const engines = await testEngines('dedupe retention with a backlog');
const dir = mkdtempSync(join(tmpdir(), 'dedupe-backlog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(engines)('dedupe retention while the inbox holds a backlog (%s)', (engine) => {
  it('does not let a replay received inside the window into history because its key was purged while it waited', async () => {
    const { store, dispose } = await openTestStore(engine, dir);
    try {
      const clock = new ManualClock(T);
      const rig = trackingRig(store, { clock });
      const original = scan('DR-1', 'in_transit', T - 1000, { carrierEventId: 'evt-42', location: { city: 'Berlin' } });
      await rig.send([original]);
      await rig.applier.drain();

      clock.advance(29 * DAY); // inside the window: the replay is received...
      await rig.send([{ ...original, location: { city: 'Berlin', facility: 'Hub 3' } }]);
      clock.advance(2 * DAY); // ...and waits in the inbox (an incident, a backlog) while the sweeper runs
      const purged = await store.tracking.purgeKeys(clock.now(), TRACKING_DEDUPE_RETENTION_MS, 5_000);
      await rig.applier.drain();

      const history = (await store.tracking.history('DR-1')).length;
      expect({ history, purged, idHits: rig.metrics.dedupeHits.carrier_event_id }).toEqual({ history: 1, purged: 0, idHits: 1 });
    } finally {
      await dispose();
    }
  });

  it('judges a replay without a carrier event id by the composite window back from when it was received, not from when it is applied', async () => {
    const { store, dispose } = await openTestStore(engine, dir);
    try {
      const clock = new ManualClock(T);
      const rig = trackingRig(store, { clock });
      const original = scan('DR-3', 'in_transit', T - 1000, { location: { city: 'Berlin' } });
      await rig.send([original]);
      await rig.applier.drain();
      clock.advance(29 * DAY);
      await rig.send([{ ...original, eventTime: T - 1000 + 20_000, location: { city: 'Berlin', facility: 'Hub 3' } }]);
      clock.advance(2 * DAY);
      await rig.applier.drain();
      expect({ history: (await store.tracking.history('DR-3')).length, compositeHits: rig.metrics.dedupeHits.composite }).toEqual({ history: 1, compositeHits: 1 });
    } finally {
      await dispose();
    }
  });

  it('control: the same replay applied without a backlog is recognised by its carrier event id', async () => {
    const { store, dispose } = await openTestStore(engine, dir);
    try {
      const clock = new ManualClock(T);
      const rig = trackingRig(store, { clock });
      const original = scan('DR-2', 'in_transit', T - 1000, { carrierEventId: 'evt-43', location: { city: 'Berlin' } });
      await rig.send([original]);
      await rig.applier.drain();
      clock.advance(29 * DAY);
      await rig.send([{ ...original, location: { city: 'Berlin', facility: 'Hub 3' } }]);
      await rig.applier.drain();
      expect((await store.tracking.history('DR-2')).length).toBe(1);
    } finally {
      await dispose();
    }
  });
});
