import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlAuditRepository } from '../sql/audit-repository.js';
import { migrate, SQLITE_SCHEMA_VERSION } from './migrations.js';
import { SqliteExecutor } from './sqlite-executor.js';

// Migration 5 (docs/decisions/0023): audit chains keyed by (locker, epoch, seq). Records
// stored before it keep their data, watermark and chain state under the epoch 'pre-epoch'.

describe('backend migration 5: audit chains per database epoch', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'audit-epoch-migration-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps records stored before epochs under the pre-epoch chain, and a new epoch starts apart', async () => {
    const db = new Database(join(dir, 'backend.sqlite'));
    migrate(db, 4);
    db.prepare(
      `INSERT INTO audit_records (locker_id, seq, at, type, lane, data_json, prev_hash, hash, received_at, processed)
       VALUES ('lk-a', 1, 10, 'device.started', 'normal', '{}', ?, ?, 11, 1)`,
    ).run('0'.repeat(64), 'a'.repeat(64));
    db.prepare(`INSERT INTO audit_state (locker_id, contiguous_seq, chain_broken_at) VALUES ('lk-a', 1, NULL)`).run();
    migrate(db);
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);

    const x = new SqliteExecutor(db);
    const audit = new SqlAuditRepository(x);
    expect(await audit.get('lk-a', 'pre-epoch', 1)).toMatchObject({ epoch: 'pre-epoch', seq: 1, hash: 'a'.repeat(64) });
    expect(await audit.contiguousSeq('lk-a', 'pre-epoch')).toBe(1);
    expect(await audit.currentEpoch('lk-a')).toBeUndefined();
    // The same seq under a real epoch is another record, not a duplicate.
    const epoch = 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';
    expect(await audit.insert({ lockerId: 'lk-a', epoch, seq: 1, at: 20, type: 'device.started', lane: 'normal', dataJson: '{"fresh":true}', prevHash: '0'.repeat(64), hash: 'b'.repeat(64) }, 21)).toBe(true);
    expect(await audit.count('lk-a')).toBe(2);
    expect(await audit.contiguousSeq('lk-a', epoch)).toBe(0);
    expect(await audit.setCurrentEpoch('lk-a', epoch, 30)).toBe(true);
    expect(await audit.setCurrentEpoch('lk-a', epoch, 31)).toBe(false);
    await x.close();
  });
});
