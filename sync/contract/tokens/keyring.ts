import type { KeyringChange } from '../codes/code-batch.js';
import type { Ed25519, PublicKeyHandle } from '../crypto/ed25519.js';
import { publicKeyFromText } from './key-text.js';

/** One trusted signing key as the device stores it. */
export interface KeyringRow {
  kid: string;
  /** base64url, 32 bytes */
  publicKey: string;
  notAfter?: number;
  revoked: boolean;
}

// The backend public keys this locker trusts, by kid. Several at once so the backend can
// rotate: the new key is trusted before it signs anything, the old one gets a `notAfter`
// and is retired from that moment.
//
// Revocation is sticky. A revoked kid stays in the rows as a tombstone (its key is never
// imported again), and a later 'trust' for that kid is refused: a replayed or misordered
// batch must not resurrect a compromised key. Bringing a kid back takes the explicit local
// operation `reinstateKid`, which no batch can reach; the normal path is a new kid.
// A kid is also bound to one public key for life: 'trust' with the same kid and another
// key is refused (it may only change notAfter), so a kid in an audit record means one key.
// A 'trust' replaces notAfter (absent clears it), which is how a retirement is postponed.
// Retirement is judged against the verification time, not the token's iat: after notAfter
// nothing that key signed is accepted, however recently it was issued.
// The store's KeyringRepository enforces the same policy on the persisted rows.
// The keys of the device config (`trustedKeys`, installed with the board) are pinned: the
// store holds no row for them until a batch writes one, so without this rule a batch could
// 'trust' a config kid with another public key, and that stored row would win over the
// config's (bootstrap-keyring.ts). A batch that tries is rejected whole (findPinnedRebind).

export type KeyLookup = { status: 'trusted'; key: PublicKeyHandle } | { status: 'unknown' | 'revoked' | 'retired' };

/** What a token verifier needs from a keyring; a fake in tests can implement just this. */
export interface KeyResolver {
  lookup(kid: string, now: number): KeyLookup;
  /** Kids that look up as trusted at `now`, sorted; announced in presence. A resolver that cannot list them leaves it out. */
  trustedKids?(now: number): string[];
}

export type KeyringChangeOutcome =
  | 'trusted' // new kid
  | 'updated' // same kid and key, notAfter changed
  | 'unchanged'
  | 'revoked'
  | 'refused-revoked' // trust for a kid that was revoked
  | 'refused-key-mismatch' // trust for a known kid with a different key
  | 'refused-invalid-key'; // public key text is not 32 bytes of base64url

/** A key the device config trusts: a batch may retire or revoke it, never re-bind its kid. */
export interface PinnedKey {
  kid: string;
  publicKey: string;
}

/**
 * The first 'trust' change that would bind a pinned kid to another public key, or undefined.
 * Pure; the code batch applier calls it before it writes anything.
 */
export function findPinnedRebind(pinned: readonly PinnedKey[], changes: readonly KeyringChange[]): Extract<KeyringChange, { op: 'trust' }> | undefined {
  if (pinned.length === 0) return undefined;
  const byKid = new Map(pinned.map((k) => [k.kid, k.publicKey]));
  for (const change of changes) {
    if (change.op !== 'trust') continue;
    const key = byKid.get(change.kid);
    if (key !== undefined && key !== change.publicKey) return change;
  }
  return undefined;
}

function sameRow(a: KeyringRow, b: KeyringRow): boolean {
  return a.kid === b.kid && a.publicKey === b.publicKey && a.notAfter === b.notAfter && a.revoked === b.revoked;
}

/**
 * The pure rule for one change, shared by the store (which persists the rows) and the
 * in-memory keyring, so both always agree. Returns new rows; never mutates its input.
 */
export function applyKeyringChange(rows: readonly KeyringRow[], change: KeyringChange): { rows: KeyringRow[]; outcome: KeyringChangeOutcome } {
  const existing = rows.find((r) => r.kid === change.kid);
  const others = rows.filter((r) => r.kid !== change.kid);
  if (change.op === 'revoke') {
    if (existing?.revoked === true) return { rows: [...rows], outcome: 'unchanged' };
    // Revoking a kid we never saw still leaves a tombstone, so a later trust cannot add it.
    const tombstone: KeyringRow = { kid: change.kid, publicKey: existing?.publicKey ?? '', revoked: true };
    return { rows: [...others, tombstone], outcome: 'revoked' };
  }
  if (existing?.revoked === true) return { rows: [...rows], outcome: 'refused-revoked' };
  try {
    publicKeyFromText(change.publicKey);
  } catch {
    return { rows: [...rows], outcome: 'refused-invalid-key' };
  }
  if (existing !== undefined && existing.publicKey !== change.publicKey) return { rows: [...rows], outcome: 'refused-key-mismatch' };
  const row: KeyringRow = { kid: change.kid, publicKey: change.publicKey, revoked: false };
  if (change.notAfter !== undefined) row.notAfter = change.notAfter;
  if (existing !== undefined && sameRow(existing, row)) return { rows: [...rows], outcome: 'unchanged' };
  return { rows: [...others, row], outcome: existing === undefined ? 'trusted' : 'updated' };
}

/**
 * Explicit operator action: forgets a revocation so the kid can be trusted again by a
 * later batch. Never called from batch application.
 */
export function reinstateKid(rows: readonly KeyringRow[], kid: string): KeyringRow[] {
  return rows.filter((r) => !(r.kid === kid && r.revoked));
}

interface Entry {
  readonly row: KeyringRow;
  readonly key: PublicKeyHandle | undefined;
}

export class Keyring implements KeyResolver {
  private constructor(
    private readonly ed: Ed25519,
    private readonly entries: ReadonlyMap<string, Entry>,
    /** Kids of rows skipped because their key would not import; the caller logs them. */
    readonly invalidKids: readonly string[],
  ) {}

  /** Imports every non-revoked key once. A row with a bad key looks up as unknown, not fatal. */
  static fromRows(ed: Ed25519, rows: readonly KeyringRow[]): Keyring {
    return Keyring.build(ed, rows, new Map());
  }

  static empty(ed: Ed25519): Keyring {
    return new Keyring(ed, new Map(), []);
  }

  private static build(ed: Ed25519, rows: readonly KeyringRow[], previous: ReadonlyMap<string, Entry>): Keyring {
    const entries = new Map<string, Entry>();
    const invalid: string[] = [];
    for (const row of rows) {
      if (row.revoked) {
        entries.set(row.kid, { row, key: undefined });
        continue;
      }
      const before = previous.get(row.kid);
      if (before?.key !== undefined && before.row.publicKey === row.publicKey) {
        entries.set(row.kid, { row, key: before.key });
        continue;
      }
      try {
        entries.set(row.kid, { row, key: ed.importPublicKey(publicKeyFromText(row.publicKey)) });
      } catch {
        // Kept (without a key) so rows() still returns it and nothing is silently dropped.
        entries.set(row.kid, { row, key: undefined });
        invalid.push(row.kid);
      }
    }
    return new Keyring(ed, entries, invalid);
  }

  /** A new keyring with the change applied; keys already imported are reused. */
  apply(change: KeyringChange): { keyring: Keyring; outcome: KeyringChangeOutcome } {
    const { rows, outcome } = applyKeyringChange(this.rows(), change);
    if (outcome === 'unchanged' || outcome.startsWith('refused')) return { keyring: this, outcome };
    return { keyring: Keyring.build(this.ed, rows, this.entries), outcome };
  }

  lookup(kid: string, now: number): KeyLookup {
    const entry = this.entries.get(kid);
    if (entry === undefined) return { status: 'unknown' };
    if (entry.row.revoked) return { status: 'revoked' };
    if (entry.key === undefined) return { status: 'unknown' };
    // notAfter is the last instant the key is accepted; NaN `now` fails closed.
    if (entry.row.notAfter !== undefined && !(now <= entry.row.notAfter)) return { status: 'retired' };
    return { status: 'trusted', key: entry.key };
  }

  trustedKids(now: number): string[] {
    return [...this.entries.keys()].filter((kid) => this.lookup(kid, now).status === 'trusted').sort();
  }

  /** The rows to persist, in kid order (including tombstones and rows whose key was invalid). */
  rows(): KeyringRow[] {
    return [...this.entries.values()].map((e) => ({ ...e.row })).sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));
  }
}
