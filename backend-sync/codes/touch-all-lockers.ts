import type { Store } from '../store/store.js';
import type { CodeSetService } from './code-set-service.js';

// Bumps every locker's code set so a keyring change goes out now (key reload, revocation).
// A batch of lockers per transaction, never the whole fleet in one: that held all 10,000
// sets' locks (on SQLite, the only writer) until the last one was bumped. In id order, as
// every multi-locker change takes the sets' locks: no deadlock.

const BATCH = 100;

/** Resolves to the number of lockers bumped. */
export async function touchAllLockers(store: Store, codeSets: CodeSetService, batch = BATCH): Promise<number> {
  const lockerIds = await store.lockers.ids();
  for (let i = 0; i < lockerIds.length; i += batch) {
    await store.transaction(async () => {
      for (const lockerId of lockerIds.slice(i, i + batch)) {
        await store.codeSets.ensure(lockerId);
        await codeSets.touch(lockerId);
      }
    });
  }
  return lockerIds.length;
}
