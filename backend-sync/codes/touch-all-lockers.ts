import type { CodeSetRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { CodeSetService } from './code-set-service.js';

// Bumps lockers' code sets so a keyring change goes out now (key reload, revocation, the
// keyring reconciler). A batch of lockers per transaction, never the whole fleet in one:
// that held all 10,000 sets' locks (on SQLite, the only writer) until the last one was
// bumped. In id order, as every multi-locker change takes the sets' locks: no deadlock.

const BATCH = 100;

export interface TouchOptions {
  /** Lockers per transaction. */
  batch?: number;
  /** Read under the set's lock: true leaves this locker alone (another instance got there first). */
  skip?: (set: CodeSetRecord) => boolean;
}

/** Bumps these lockers' sets (in the order given: id order); resolves to how many it bumped. */
export async function touchLockers(store: Store, codeSets: CodeSetService, lockerIds: readonly string[], o: TouchOptions = {}): Promise<number> {
  const batch = o.batch ?? BATCH;
  let bumped = 0;
  for (let i = 0; i < lockerIds.length; i += batch) {
    // Counted inside the unit and returned from it: PostgreSQL may run a unit again.
    bumped += await store.transaction(async () => {
      let n = 0;
      for (const lockerId of lockerIds.slice(i, i + batch)) {
        const set = await store.codeSets.ensure(lockerId);
        if (o.skip?.(set) === true) continue;
        await codeSets.touch(lockerId);
        n++;
      }
      return n;
    });
  }
  return bumped;
}

/** Every registered locker's set; resolves to the number of lockers bumped. */
export async function touchAllLockers(store: Store, codeSets: CodeSetService, batch = BATCH): Promise<number> {
  return touchLockers(store, codeSets, await store.lockers.ids(), { batch });
}
