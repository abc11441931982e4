import { DeviceError } from '../errors.js';
import { CODE_ENTRY_COLUMNS, toStoredEntry, type CodeEntryRow } from './code-entry-row.js';
import type { SqliteDatabase, Stmt } from './open-database.js';
import { VISIBLE_ENTRY } from './staged-entries.js';
import type { CodeEntryState, StoredCodeEntry } from './runtime-store.js';

// Reads of the code set and the device-local transitions of one entry (deposit, collect,
// expire, retrieve). Batches are applied by code-batch-applier.ts. Each transition is one
// guarded UPDATE (`WHERE state IN (...)`), so a transition from a wrong state changes
// nothing and is reported, never half-done. Reads see only the current code set: rows a
// batch staged for a later version are filtered out (staged-entries.ts).

type Transition = 'deposited' | 'collected' | 'expired' | 'retrieved';

const transitions: Record<Transition, { to: CodeEntryState; from: readonly CodeEntryState[] }> = {
  // A live entry may be deposited again: the courier re-slotted the parcel.
  deposited: { to: 'live', from: ['awaiting-deposit', 'live'] },
  collected: { to: 'collected', from: ['live'] },
  expired: { to: 'expired', from: ['awaiting-deposit', 'live'] },
  retrieved: { to: 'retrieved', from: ['live', 'expired'] },
};

export class CodeEntryRepository {
  private readonly byDigest: Stmt<[string], CodeEntryRow>;
  private readonly byTokenId: Stmt<[string], CodeEntryRow>;
  private readonly byParcel: Stmt<[string], CodeEntryRow>;
  private readonly liveInCompartment: Stmt<[string], CodeEntryRow>;
  private readonly countLive: Stmt<[number], { n: number }>;
  private readonly countKeypad: Stmt<[number], { state: 'live' | 'awaiting-deposit'; n: number }>;
  private readonly countKeypadUpTo: Stmt<[number, number], { n: number }>;
  private readonly reserved: Stmt<[string], { compartment_id: string }>;
  private readonly stateOf: Stmt<[string], { state: CodeEntryState }>;
  private readonly deposit: Stmt<{ tokenId: string; compartmentId: string; at: number }>;
  private readonly close: Record<Exclude<Transition, 'deposited'>, Stmt<{ tokenId: string; at: number }>>;

  constructor(db: SqliteDatabase) {
    // Uses the partial unique index: only an entry that can still open is found by its code.
    this.byDigest = db.prepare<[string], CodeEntryRow>(
      `SELECT ${CODE_ENTRY_COLUMNS} FROM code_entries
        WHERE code_digest = ? AND state IN ('awaiting-deposit', 'live') AND code_digest IS NOT NULL AND ${VISIBLE_ENTRY}`,
    );
    this.byTokenId = db.prepare<[string], CodeEntryRow>(`SELECT ${CODE_ENTRY_COLUMNS} FROM code_entries WHERE token_id = ? AND ${VISIBLE_ENTRY}`);
    this.byParcel = db.prepare<[string], CodeEntryRow>(
      `SELECT ${CODE_ENTRY_COLUMNS} FROM code_entries WHERE parcel_id = ? AND ${VISIBLE_ENTRY} ORDER BY received_at, token_id`,
    );
    this.liveInCompartment = db.prepare<[string], CodeEntryRow>(
      `SELECT ${CODE_ENTRY_COLUMNS} FROM code_entries WHERE current_compartment_id = ? AND state = 'live' AND ${VISIBLE_ENTRY} ORDER BY token_id`,
    );
    // Index-only (code_entries_live_staged): the version is a parameter, not a per-row subquery.
    this.countLive = db.prepare<[number], { n: number }>(
      `SELECT count(*) AS n FROM code_entries INDEXED BY code_entries_live_staged
         WHERE state = 'live' AND (staged_version IS NULL OR staged_version <= ?)`,
    );
    // Exactly the rows findByCodeDigest can return (same predicate as the partial unique
    // index): an awaiting-deposit code is matched too ("not deposited yet" tells a guesser
    // he hit a real code), so it counts toward the guessing odds like a live one.
    this.countKeypad = db.prepare<[number], { state: 'live' | 'awaiting-deposit'; n: number }>(
      `SELECT state, count(*) AS n FROM code_entries INDEXED BY code_entries_keypad_state
         WHERE state IN ('awaiting-deposit', 'live') AND code_digest IS NOT NULL
           AND (staged_version IS NULL OR staged_version <= ?)
         GROUP BY state`,
    );
    // The same rows, counted no further than a limit: the odds check after every batch only
    // asks "more than maxLiveCodes?", and a full count walks every open entry's index row
    // (≈ 25 ms at 170k open entries here, on the event loop, after each batch).
    this.countKeypadUpTo = db.prepare<[number, number], { n: number }>(
      `SELECT count(*) AS n FROM (
         SELECT 1 FROM code_entries INDEXED BY code_entries_keypad_state
          WHERE state IN ('awaiting-deposit', 'live') AND code_digest IS NOT NULL
            AND (staged_version IS NULL OR staged_version <= ?)
          LIMIT ?)`,
    );
    this.reserved = db.prepare<[string], { compartment_id: string }>(
      `SELECT DISTINCT current_compartment_id AS compartment_id FROM code_entries
        WHERE token_id <> ? AND (state = 'awaiting-deposit' OR (kind = 'return-dropoff' AND state = 'live')) AND ${VISIBLE_ENTRY}`,
    );
    this.stateOf = db.prepare<[string], { state: CodeEntryState }>(`SELECT state FROM code_entries WHERE token_id = ? AND ${VISIBLE_ENTRY}`);
    this.deposit = db.prepare(
      `UPDATE code_entries SET state = 'live', current_compartment_id = @compartmentId, deposited_at = @at, updated_at = @at
        WHERE token_id = @tokenId AND state IN ('awaiting-deposit', 'live') AND ${VISIBLE_ENTRY}`,
    );
    const closeStmt = (t: Exclude<Transition, 'deposited'>): Stmt<{ tokenId: string; at: number }> =>
      db.prepare(
        `UPDATE code_entries SET state = '${transitions[t].to}', closed_at = @at, updated_at = @at
          WHERE token_id = @tokenId AND state IN (${transitions[t].from.map((s) => `'${s}'`).join(', ')}) AND ${VISIBLE_ENTRY}`,
      );
    this.close = { collected: closeStmt('collected'), expired: closeStmt('expired'), retrieved: closeStmt('retrieved') };
  }

  findByCodeDigest(codeDigest: string): StoredCodeEntry | undefined {
    const row = this.byDigest.get(codeDigest);
    return row === undefined ? undefined : toStoredEntry(row);
  }

  findByTokenId(tokenId: string): StoredCodeEntry | undefined {
    const row = this.byTokenId.get(tokenId);
    return row === undefined ? undefined : toStoredEntry(row);
  }

  findByParcel(parcelId: string): StoredCodeEntry[] {
    return this.byParcel.all(parcelId).map(toStoredEntry);
  }

  findLiveInCompartment(compartmentId: string): StoredCodeEntry[] {
    return this.liveInCompartment.all(compartmentId).map(toStoredEntry);
  }

  reservedCompartments(exceptTokenId: string): Set<string> {
    return new Set(this.reserved.all(exceptTokenId).map((r) => r.compartment_id));
  }

  /** `codeSetVersion`: the set's current version; rows staged for a later one are not yet live. */
  liveCount(codeSetVersion: number): number {
    return this.countLive.get(codeSetVersion)?.n ?? 0;
  }

  /** `codeSetVersion`: the set's current version; rows staged for a later one are not yet matchable. */
  keypadCodeCounts(codeSetVersion: number): { live: number; awaitingDeposit: number } {
    const out = { live: 0, awaitingDeposit: 0 };
    for (const r of this.countKeypad.all(codeSetVersion)) {
      if (r.state === 'live') out.live = r.n;
      else out.awaitingDeposit = r.n;
    }
    return out;
  }

  /** min(live + awaiting-deposit keypad codes, limit): costs O(limit), not O(open entries). */
  keypadCodeCountUpTo(codeSetVersion: number, limit: number): number {
    return this.countKeypadUpTo.get(codeSetVersion, Math.max(0, Math.trunc(limit)))?.n ?? 0;
  }

  markDeposited(tokenId: string, compartmentId: string, at: number): void {
    const changes = this.deposit.run({ tokenId, compartmentId, at }).changes;
    if (changes === 0) this.explainNoChange(tokenId, 'deposited');
  }

  markClosed(tokenId: string, transition: Exclude<Transition, 'deposited'>, at: number): void {
    const changes = this.close[transition].run({ tokenId, at }).changes;
    if (changes === 0) this.explainNoChange(tokenId, transition);
  }

  /** No row changed: unknown token, already there (idempotent no-op), or a wrong state. */
  private explainNoChange(tokenId: string, transition: Transition): void {
    const current = this.stateOf.get(tokenId)?.state;
    if (current === undefined) {
      throw new DeviceError('STORE_NOT_FOUND', 'no code entry with this token id', { tokenId });
    }
    if (current === transitions[transition].to && transition !== 'deposited') return;
    throw new DeviceError('STORE_STATE_CONFLICT', `code entry cannot become ${transition}`, {
      tokenId,
      state: current,
      allowedFrom: transitions[transition].from,
    });
  }
}
