import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { openSqlite } from './open-sqlite.js';

describe('openSqlite', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const fresh = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'backend-db-'));
    dirs.push(d);
    return join(d, 'b.db');
  };

  it('opens in WAL mode with synchronous=NORMAL (the executor syncs the WAL) and temp_store=MEMORY', () => {
    const db = openSqlite({ path: fresh(), logger: silentLogger() });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('temp_store', { simple: true })).toBe(2);
    db.close();
  });

  it('has the R*Tree module compiled in and uses it for the locker index', () => {
    const db = openSqlite({ path: fresh(), logger: silentLogger() });
    const row = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE name = 'locker_geo'").get();
    expect(row?.sql).toMatch(/USING rtree/i);
    db.close();
  });

  it('migrates once: reopening keeps the schema version and the data', () => {
    const path = fresh();
    const a = openSqlite({ path, logger: silentLogger() });
    const version = a.pragma('user_version', { simple: true });
    a.prepare("INSERT INTO idempotency VALUES ('s', 'k', 'h', 201, '{}', 1)").run();
    a.close();
    const b = openSqlite({ path, logger: silentLogger() });
    expect(b.pragma('user_version', { simple: true })).toBe(version);
    expect(b.prepare('SELECT count(*) AS n FROM idempotency').get()).toEqual({ n: 1 });
    b.close();
  });

  it('refuses to rewrite the append-only state log', () => {
    const db = openSqlite({ path: fresh(), logger: silentLogger() });
    db.prepare("INSERT INTO state_log (entity, entity_id, to_state, event, actor, at) VALUES ('order', 'o1', 'placed', 'place', 'x', 1)").run();
    expect(() => db.prepare("UPDATE state_log SET to_state = 'collected'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM state_log').run()).toThrow(/append-only/);
    db.close();
  });
});
