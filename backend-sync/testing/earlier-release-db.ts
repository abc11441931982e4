import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { EngineName } from './pg-test-db.js';
import { pgConfigIn } from './pg-test-db.js';

// Raw access to a closed fixture's database, to put it back to an earlier release's schema
// version and write rows as that release did (tests of a migration that must fix old data).
// One SQL text with `?` parameters for both engines.

export interface RawDb {
  engine: EngineName;
  run(text: string, params?: ReadonlyArray<string | number | null>): Promise<void>;
  all<T>(text: string, params?: ReadonlyArray<string | number | null>): Promise<T[]>;
  close(): Promise<void>;
}

const dollars = (text: string): string => {
  let n = 0;
  return text.replace(/\?/g, () => `$${String(++n)}`);
};

/** The fixture's SQLite file in `dir`, or its PostgreSQL `schema`. */
export async function openRawDb(engine: EngineName, where: { dir: string; schema?: string }): Promise<RawDb> {
  if (engine === 'sqlite') {
    const db = new Database(join(where.dir, 'backend.db'));
    // Async, so a statement the database refuses is a rejected promise on both engines.
    return {
      engine,
      run: async (text, params = []) => {
        await Promise.resolve();
        db.prepare(text).run(...params);
      },
      all: async <T>(text: string, params: ReadonlyArray<string | number | null> = []) => {
        await Promise.resolve();
        return db.prepare(text).all(...params) as T[];
      },
      close: async () => {
        await Promise.resolve();
        db.close();
      },
    };
  }
  const client = new pg.Client(pgConfigIn(where.schema ?? 'public'));
  await client.connect();
  return {
    engine,
    run: async (text, params = []) => {
      await client.query(dollars(text), [...params]);
    },
    all: async <T>(text: string, params: ReadonlyArray<string | number | null> = []) => (await client.query(dollars(text), [...params])).rows as T[],
    close: () => client.end(),
  };
}

/** Runs `work` with tracking_history's append-only triggers off, as only a test rewriting an earlier release's rows may. */
export async function withHistoryWritable(db: RawDb, work: () => Promise<void>): Promise<void> {
  if (db.engine === 'postgres') {
    await db.run('ALTER TABLE tracking_history DISABLE TRIGGER tracking_history_no_change');
    await work();
    await db.run('ALTER TABLE tracking_history ENABLE TRIGGER tracking_history_no_change');
    return;
  }
  await db.run('DROP TRIGGER tracking_history_no_update');
  await db.run('DROP TRIGGER tracking_history_no_delete');
  await work();
  await db.run(`CREATE TRIGGER tracking_history_no_update BEFORE UPDATE ON tracking_history BEGIN SELECT RAISE(ABORT, 'tracking_history is append-only'); END`);
  await db.run(`CREATE TRIGGER tracking_history_no_delete BEFORE DELETE ON tracking_history BEGIN SELECT RAISE(ABORT, 'tracking_history is append-only'); END`);
}

/** Sets the schema version an earlier release left (the steps after it are undone by the caller). */
export async function setSchemaVersion(db: RawDb, version: number): Promise<void> {
  if (db.engine === 'sqlite') await db.run(`PRAGMA user_version = ${String(version)}`);
  else await db.run('UPDATE schema_version SET version = ?', [version]);
}
