import type { KeyringChange } from '@locker/contract/codes/code-batch.js';
import { findPinnedRebind, type PinnedKey } from '@locker/contract/tokens/keyring.js';
import type { SqliteDatabase, Stmt } from './open-database.js';
import type { KeyringRow } from './runtime-store.js';

// Trusted backend signing keys, changed only by code batches (inside their transaction).
//
// Policy (a successor will ask):
// - A revoked kid is revoked forever. A later 'trust' of it is a content error that
//   rejects the whole batch: re-trusting a key that was revoked (perhaps as compromised)
//   must be a visible incident on the backend, never a silent flip. Rotate to a new kid.
// - A kid names one key. 'trust' with the same kid and another public key is rejected too;
//   'trust' with the same key only updates notAfter.
// - 'revoke' of a kid the device never saw stores a tombstone (publicKey ""), so the kid
//   can never be trusted afterwards either. keyringRows() returns tombstones (revoked).
// - A kid the device config trusts (pinned) may not be bound to another key by a batch,
//   even while the table has no row for it (device/tokens/keyring.ts, findPinnedRebind).
//   The applier checks the whole batch first and audits the attempt; this is the backstop.

interface KeyringDbRow {
  kid: string;
  public_key: string;
  not_after: number | null;
  revoked: 0 | 1;
}

export class KeyringRepository {
  private readonly all: Stmt<[], KeyringDbRow>;
  private readonly one: Stmt<[string], KeyringDbRow>;
  private readonly upsertTrust: Stmt<{ kid: string; publicKey: string; notAfter: number | null; at: number }>;
  private readonly markRevoked: Stmt<{ kid: string; at: number }>;

  constructor(
    db: SqliteDatabase,
    private readonly pinned: readonly PinnedKey[] = [],
  ) {
    const columns = 'kid, public_key, not_after, revoked';
    this.all = db.prepare<[], KeyringDbRow>(`SELECT ${columns} FROM keyring ORDER BY kid`);
    this.one = db.prepare<[string], KeyringDbRow>(`SELECT ${columns} FROM keyring WHERE kid = ?`);
    this.upsertTrust = db.prepare(
      `INSERT INTO keyring (kid, public_key, not_after, revoked, trusted_at) VALUES (@kid, @publicKey, @notAfter, 0, @at)
       ON CONFLICT (kid) DO UPDATE SET not_after = excluded.not_after`,
    );
    this.markRevoked = db.prepare(
      `INSERT INTO keyring (kid, public_key, not_after, revoked, trusted_at, revoked_at) VALUES (@kid, '', NULL, 1, @at, @at)
       ON CONFLICT (kid) DO UPDATE SET revoked = 1, revoked_at = coalesce(revoked_at, @at)`,
    );
  }

  rows(): KeyringRow[] {
    return this.all.all().map((r) => {
      const row: KeyringRow = { kid: r.kid, publicKey: r.public_key, revoked: r.revoked === 1 };
      if (r.not_after !== null) row.notAfter = r.not_after;
      return row;
    });
  }

  /** Applies one change; returns a rejection reason instead when the policy forbids it. */
  apply(change: KeyringChange, at: number): string | undefined {
    if (change.op === 'revoke') {
      this.markRevoked.run({ kid: change.kid, at });
      return undefined;
    }
    if (findPinnedRebind(this.pinned, [change]) !== undefined) {
      return `keyring: kid ${change.kid} is trusted by the device config with another public key`;
    }
    const existing = this.one.get(change.kid);
    if (existing?.revoked === 1) return `keyring: kid ${change.kid} is revoked and cannot be trusted again`;
    if (existing !== undefined && existing.public_key !== change.publicKey) {
      return `keyring: kid ${change.kid} is already bound to another public key`;
    }
    this.upsertTrust.run({ kid: change.kid, publicKey: change.publicKey, notAfter: change.notAfter ?? null, at });
    return undefined;
  }
}
