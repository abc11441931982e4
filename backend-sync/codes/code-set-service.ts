import { createHash } from 'node:crypto';
import { toggleCodeSetDigest, type CodeBatch, type CodeEntry, type KeyringChange, type Revocation } from '../shared/contract.js';
import type { CodeEntryRecord } from '../store/records.js';
import type { Store } from '../store/store.js';

// Per-locker versioned code sets. Every change (an entry added, an entry revoked) bumps
// the locker's version by one inside the caller's transaction and keeps the digest in step
// (same XOR-of-SHA-256 as the device), so deltas can be cut between any two versions:
// upserts = entries added after `from` and still live; revocations = entries that `from`
// had and that were revoked since. A snapshot is every live entry.

export type RevokeReason = Revocation['reason'];

export type NewEntry = Omit<CodeEntryRecord, 'addedVersion' | 'revokedVersion' | 'revokeReason'>;

/** Tells the MQTT side that a locker's set changed (called after the transaction commits). */
export type DirtyListener = (lockerId: string) => void;

export class CodeSetService {
  private readonly dirtyListeners: DirtyListener[] = [];
  private readonly pendingDirty = new Set<string>();

  constructor(private readonly store: Store) {}

  onDirty(listener: DirtyListener): void {
    this.dirtyListeners.push(listener);
  }

  /** Adds an entry; false when its code digest is already live on that locker. Call inside a transaction. */
  add(entry: NewEntry): boolean {
    const set = this.store.codeSets.ensure(entry.lockerId);
    const version = set.version + 1;
    if (!this.store.codeSets.insertEntry({ ...entry, addedVersion: version })) return false;
    this.store.codeSets.setVersion(entry.lockerId, version, toggleCodeSetDigest(set.digest, entry.tokenId, entry.token));
    this.markDirty(entry.lockerId);
    return true;
  }

  /** Revokes a live entry; false when it was not live. Call inside a transaction. */
  revoke(lockerId: string, tokenId: string, reason: RevokeReason): boolean {
    const entry = this.store.codeSets.entry(lockerId, tokenId);
    if (entry === undefined || entry.revokedVersion !== undefined) return false;
    const set = this.store.codeSets.ensure(lockerId);
    const version = set.version + 1;
    this.store.codeSets.revoke(lockerId, tokenId, version, reason);
    this.store.codeSets.setVersion(lockerId, version, toggleCodeSetDigest(set.digest, tokenId, entry.token));
    this.markDirty(lockerId);
    return true;
  }

  /** Raises the version without changing content (a snapshot for a locker that already claims our version). */
  bump(lockerId: string): number {
    const set = this.store.codeSets.ensure(lockerId);
    this.store.codeSets.setVersion(lockerId, set.version + 1, set.digest);
    return set.version + 1;
  }

  /** Bumps and schedules a publish: for changes outside the entries (the keyring). */
  touch(lockerId: string): void {
    this.bump(lockerId);
    this.markDirty(lockerId);
  }

  /**
   * The batch taking a locker from `fromVersion` to the current version: a delta, or a
   * snapshot when asked. `keyring` is included when given. undefined when there is nothing to send.
   */
  batch(lockerId: string, kind: 'delta' | 'snapshot', fromVersion: number, keyring: KeyringChange[]): CodeBatch | undefined {
    const set = this.store.codeSets.ensure(lockerId);
    if (set.version <= fromVersion) return undefined;
    if (kind === 'snapshot') {
      return { lockerId, kind, fromVersion, toVersion: set.version, upserts: this.store.codeSets.liveEntries(lockerId).map(toWire), revocations: [], keyring };
    }
    const { upserts, revocations } = this.store.codeSets.changesSince(lockerId, fromVersion);
    return {
      lockerId,
      kind,
      fromVersion,
      toVersion: set.version,
      upserts: upserts.map(toWire),
      revocations: revocations.map((r) => ({ tokenId: r.tokenId, reason: (r.revokeReason ?? 'cancelled') as RevokeReason })),
      keyring,
    };
  }

  /** Lockers touched since the last flush; the MQTT publisher drains this after commits. */
  flushDirty(): void {
    const ids = [...this.pendingDirty];
    this.pendingDirty.clear();
    for (const id of ids) for (const l of this.dirtyListeners) l(id);
  }

  private markDirty(lockerId: string): void {
    const first = this.pendingDirty.size === 0;
    this.pendingDirty.add(lockerId);
    // Deferred so the publisher reads the committed state, and so all changes of one
    // transaction (or one tick) go out as a single delta.
    if (first) setImmediate(() => this.flushDirty());
  }

}

export function toWire(e: CodeEntryRecord): CodeEntry {
  const w: CodeEntry = { tokenId: e.tokenId, token: e.token, parcelId: e.parcelId, compartmentId: e.compartmentId, size: e.size, kind: e.kind };
  if (e.codeDigest !== undefined) w.codeDigest = e.codeDigest;
  return w;
}

export function keyringHash(changes: readonly KeyringChange[]): string {
  return createHash('sha256').update(JSON.stringify(changes)).digest('hex');
}
