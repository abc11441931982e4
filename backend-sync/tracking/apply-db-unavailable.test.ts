import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { scanAt } from '../testing/backend-tracking.js';
import { scan } from '../testing/tracking-helpers.js';

// A database that stops answering in the middle of a batch (PostgreSQL restarting, a
// failover) is no poison in the events: the batch stays in the inbox for the next pass.
// Before, the applier took the failure for bad content, retried number by number, and a
// number whose own retry met the same outage had its scans dead-lettered.

describe('the database unreachable while applying', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
  });
  afterEach(() => f.close());

  it('dead-letters nothing, leaves the batch in the inbox, and applies it once the database answers', async () => {
    await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, [
      scan('DU-1', 'picked_up', scanAt(f, 0)),
      scan('DU-2', 'in_transit', scanAt(f, 30)),
    ]);
    const tracking = f.store.tracking;
    const lockProjections = tracking.lockProjections.bind(tracking);
    let down = true;
    tracking.lockProjections = (...args: Parameters<typeof lockProjections>) =>
      down ? Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })) : lockProjections(...args);

    await expect(f.services.tracking.applier.drain()).rejects.toThrow(/ECONNRESET/);
    expect(await tracking.deadLetters()).toEqual([]);
    expect(await tracking.inboxSize()).toBe(2);

    down = false;
    await f.services.tracking.applier.drain();
    expect((await tracking.history('DU-1')).map((h) => h.event.status)).toEqual(['picked_up']);
    expect((await tracking.history('DU-2')).map((h) => h.event.status)).toEqual(['in_transit']);
    expect(await tracking.inboxSize()).toBe(0);
  });
});
