import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { CodeBatch, CodeEntry } from '@locker/contract/codes/code-batch.js';
import { silentLogger } from '../logger.js';
import { openDeviceStore, type DeviceStore, type DeviceStoreOptions } from './device-store.js';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';

// The store's tests use the HAL's fake clock (its default wall time, 2026-01-01, is the
// fixtures' epoch too): one fake clock in the project.
export { FakeClock };

// Builders for store tests, the crash test and the benchmark: real files in temp dirs,
// deterministic entries (token text is fake: the store never verifies signatures).

export const LOCKER_ID = 'locker-test-1';

export function tempDir(prefix = 'device-store-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}


export function openTestStore(path: string, clock = new FakeClock(), overrides: Partial<DeviceStoreOptions> = {}): DeviceStore {
  return openDeviceStore({ path, lockerId: LOCKER_ID, logger: silentLogger(), now: () => clock.now(), ...overrides });
}

export function digestFor(n: number, salt = ''): string {
  return createHash('sha256').update(`code-${salt}${String(n)}`).digest('hex');
}

/** Entry number `n`: stable ids, a ~300-character token like a real PASETO one. */
export function makeEntry(n: number, overrides: Partial<CodeEntry> = {}): CodeEntry {
  const tokenId = `tok_${String(n).padStart(12, '0')}`;
  return {
    tokenId,
    token: `v4.public.${createHash('sha512').update(tokenId).digest('base64url').repeat(3)}`,
    codeDigest: digestFor(n),
    parcelId: `P${String(n)}`,
    compartmentId: `C${String(n % 40)}`,
    size: 'M',
    kind: 'pickup',
    ...overrides,
  };
}

export function makeEntries(from: number, count: number): CodeEntry[] {
  return Array.from({ length: count }, (_, i) => makeEntry(from + i));
}

export function makeBatch(overrides: Partial<CodeBatch> = {}): CodeBatch {
  return {
    lockerId: LOCKER_ID,
    kind: 'delta',
    fromVersion: 0,
    toVersion: 1,
    upserts: [],
    revocations: [],
    keyring: [],
    ...overrides,
  };
}

export function publicKeyText(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * open_journal's row for `opId` marked unfinished again behind the index's back: damage
 * quick_check passes and integrity_check does not (SQLITE_CORRUPT_INDEX on the next update).
 */
export function dropFromUnfinishedIndex(path: string, opId: string): void {
  const db = new Database(path);
  try {
    const index = db.prepare("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema WHERE name = 'open_journal_unfinished'").get() as Record<string, unknown>;
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    db.prepare("DELETE FROM sqlite_schema WHERE name = 'open_journal_unfinished'").run();
    db.pragma('writable_schema = OFF');
    db.close();
    const edit = new Database(path);
    try {
      edit.prepare('UPDATE open_journal SET finished_at = NULL, outcome = NULL WHERE op_id = ?').run(opId);
      edit.unsafeMode(true);
      edit.pragma('writable_schema = ON');
      edit.prepare('INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES (@type, @name, @tbl_name, @rootpage, @sql)').run(index);
    } finally {
      edit.close();
    }
  } finally {
    if (db.open) db.close();
  }
  rmSync(`${path}.clean`, { force: true });
}

/**
 * A store file holding one finished open ('op1') whose index entry is damaged as
 * dropFromUnfinishedIndex does: finishing 'op1' again meets SQLITE_CORRUPT_INDEX. Checks
 * the file as large (integrityCheckMaxBytes 0), so only the full check would see it.
 */
export function writeStoreWithDamagedIndex(path: string, clock: FakeClock): void {
  const setup = openTestStore(path, clock, { integrityCheckMaxBytes: 0 });
  setup.beginOpen({ opId: 'op1', compartmentId: 'A1', reason: 'pickup', tokenId: 't1', startedAt: 10 });
  setup.finishOpen('op1', 'opened', 11);
  setup.close();
  dropFromUnfinishedIndex(path, 'op1');
}
