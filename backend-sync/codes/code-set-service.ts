import { AsyncResource } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { toggleCodeSetDigest, type CodeBatch, type CodeEntry, type KeyringChange, type Revocation } from '../shared/contract.js';
import type { CodeEntryRecord, CodeSetRecord } from '../store/records.js';
import type { Store } from '../store/store.js';

// Per-locker versioned code sets. Every change (an entry added, an entry revoked) bumps
// the locker's version by one and keeps the digest in step (same XOR-of-SHA-256 as the
// device), so deltas can be cut between any two versions: upserts = entries added after
// `from` and still live; revocations = entries that `from` had and that were revoked since.
// A snapshot is every live entry.
//
// Several backend instances share one database, so a version must never get two contents:
// every method runs in a transaction (the caller's, as a savepoint, or its own) whose first
// code-set statement is `ensure`, which locks the set's row on PostgreSQL (SQLite's write
// transaction is exclusive anyway). Whoever holds the row decides the next version, and a
// batch is read while no one can change it.

export type RevokeReason = Revocation['reason'];

export type NewEntry = Omit<CodeEntryRecord, 'addedVersion' | 'revokedVersion' | 'revokeReason'>;

/** Tells the MQTT side that a locker's set changed. */
export type DirtyListener = (lockerId: string) => void;

export class CodeSetService {
  private readonly dirtyListeners: DirtyListener[] = [];
  private readonly pendingDirty = new Set<string>();
  /**
   * Schedules flushDirty in the async context of the constructor, not of the transaction
   * that changed the set: the store finds its transaction through AsyncLocalStorage, and a
   * listener that inherited it would publish from inside the uncommitted transaction.
   */
  private readonly scheduleFlush = AsyncResource.bind(() => {
    setImmediate(() => this.flushDirty());
  });

  constructor(private readonly store: Store) {}

  onDirty(listener: DirtyListener): void {
    this.dirtyListeners.push(listener);
  }

  /** Adds an entry; false when its code digest is already live on that locker. */
  add(entry: NewEntry): Promise<boolean> {
    const { codeSets } = this.store;
    return this.store.transaction(async () => {
      const set = await codeSets.ensure(entry.lockerId);
      const version = set.version + 1;
      if (!(await codeSets.insertEntry({ ...entry, addedVersion: version }))) return false;
      await codeSets.setVersion(entry.lockerId, version, toggleCodeSetDigest(set.digest, entry.tokenId, entry.token));
      this.markDirty(entry.lockerId);
      return true;
    });
  }

  /** Revokes a live entry; false when it was not live. */
  revoke(lockerId: string, tokenId: string, reason: RevokeReason): Promise<boolean> {
    const { codeSets } = this.store;
    return this.store.transaction(async () => {
      const set = await codeSets.ensure(lockerId);
      const entry = await codeSets.entry(lockerId, tokenId);
      if (entry === undefined || entry.revokedVersion !== undefined) return false;
      const version = set.version + 1;
      await codeSets.revoke(lockerId, tokenId, version, reason);
      await codeSets.setVersion(lockerId, version, toggleCodeSetDigest(set.digest, tokenId, entry.token));
      this.markDirty(lockerId);
      return true;
    });
  }

  /**
   * Raises the version without changing content, to at least `floor + 1` (a snapshot for a
   * locker that claims our version or more must move it forward). Returns the new version.
   */
  bump(lockerId: string, floor = 0): Promise<number> {
    const { codeSets } = this.store;
    return this.store.transaction(async () => {
      const set = await codeSets.ensure(lockerId);
      const version = Math.max(set.version, floor) + 1;
      await codeSets.setVersion(lockerId, version, set.digest);
      return version;
    });
  }

  /** Bumps and schedules a publish: for changes outside the entries (the keyring). */
  async touch(lockerId: string): Promise<void> {
    await this.bump(lockerId);
    this.markDirty(lockerId);
  }

  /**
   * The batch taking a locker from `fromVersion` to the current version: a delta, or a
   * snapshot when asked. `keyring` is included when given. undefined when there is nothing
   * to send. Read in one transaction under the set's lock, so it is the content of exactly
   * the version it names.
   */
  batch(lockerId: string, kind: 'delta' | 'snapshot', fromVersion: number, keyring: KeyringChange[]): Promise<CodeBatch | undefined> {
    const { codeSets } = this.store;
    return this.store.transaction(async (): Promise<CodeBatch | undefined> => {
      const set = await codeSets.ensure(lockerId);
      if (set.version <= fromVersion) return undefined;
      if (batchKind(set, kind, fromVersion) === 'snapshot') {
        return { lockerId, kind: 'snapshot', fromVersion, toVersion: set.version, upserts: (await codeSets.liveEntries(lockerId)).map(toWire), revocations: [], keyring };
      }
      const { upserts, revocations } = await codeSets.changesSince(lockerId, fromVersion);
      return {
        lockerId,
        kind,
        fromVersion,
        toVersion: set.version,
        upserts: upserts.map(toWire),
        revocations: revocations.map((r) => ({ tokenId: r.tokenId, reason: (r.revokeReason ?? 'cancelled') as RevokeReason })),
        keyring,
      };
    });
  }

  /**
   * Deletes revoked entries whose token expired before `expiredBefore` (nothing a locker
   * holds needs them: it drops expired tokens itself), a locker per transaction under its
   * set's lock, at most `lockers` lockers. Resolves to the entries deleted.
   */
  async purgeRevoked(expiredBefore: number, lockers = 100): Promise<number> {
    const { codeSets } = this.store;
    let deleted = 0;
    for (const lockerId of await codeSets.lockersWithStaleRevoked(expiredBefore, lockers)) {
      deleted += await this.store.transaction(async () => {
        await codeSets.ensure(lockerId);
        return (await codeSets.purgeRevoked(lockerId, expiredBefore)).deleted;
      });
    }
    return deleted;
  }

  /** Lockers touched since the last flush; the MQTT publisher drains this. */
  flushDirty(): void {
    const ids = [...this.pendingDirty];
    this.pendingDirty.clear();
    for (const id of ids) for (const l of this.dirtyListeners) l(id);
  }

  private markDirty(lockerId: string): void {
    const first = this.pendingDirty.size === 0;
    this.pendingDirty.add(lockerId);
    // Deferred so all changes of one transaction (or one tick) go out as a single delta.
    // The transaction may still be open when the listener runs: its publisher waits for
    // the set's row (ensure), so it reads the committed state, or nothing if rolled back.
    if (first) this.scheduleFlush();
  }
}

/**
 * What a batch from `fromVersion` must be. A delta from below the set's deltaFloor would
 * need revocations that were deleted (purgeRevoked), and without them revoked codes would
 * keep working on the locker: it goes out as a snapshot.
 */
export function batchKind(set: Pick<CodeSetRecord, 'deltaFloor'>, asked: 'delta' | 'snapshot', fromVersion: number): 'delta' | 'snapshot' {
  return asked === 'snapshot' || fromVersion < set.deltaFloor ? 'snapshot' : 'delta';
}

export function toWire(e: CodeEntryRecord): CodeEntry {
  const w: CodeEntry = { tokenId: e.tokenId, token: e.token, parcelId: e.parcelId, compartmentId: e.compartmentId, size: e.size, kind: e.kind };
  if (e.codeDigest !== undefined) w.codeDigest = e.codeDigest;
  return w;
}

export function keyringHash(changes: readonly KeyringChange[]): string {
  return createHash('sha256').update(JSON.stringify(changes)).digest('hex');
}
