import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { silentLogger } from '@locker/backend/shared/logger.js';
import { migratePg } from '@locker/backend/store/postgres/pg-migrations.js';
import { openSqlite, type SqliteDatabase } from '@locker/backend/store/sqlite/open-sqlite.js';
import { dropSchema, freshSchemaName, pgConfigIn } from '@locker/backend/testing/pg-test-db.js';
import { compartmentId, LOCKERS, lockerId, SLOTS } from './hold-schedule.js';

// A fresh, migrated, seeded database for every measured run, so no run inherits another's
// rows, dead tuples or WAL. Both engines get the production schema from the production
// migrations and the same rows. SQLite runs synchronous=FULL here: Kysely writes to the
// connection directly, so both layers must sync in COMMIT to compare at equal durability (the
// backend's own executor syncs the WAL off the event loop instead, decision 0035, and skips
// that when the connection is FULL).

const AT = 1_800_000_000_000;
const PEPPER = Buffer.alloc(32, 7);

export interface SqliteBenchDb {
  db: SqliteDatabase;
  dispose(): void;
}

export function freshSqlite(dir: string, name: string): SqliteBenchDb {
  const path = join(dir, `${name}.db`);
  const db = openSqlite({ path, logger: silentLogger() });
  db.pragma('synchronous = FULL');
  const addLocker = db.prepare(
    `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
     VALUES (?, ?, 52.5, 13.4, '{}', '{}', 'operating', ?, ?)`,
  );
  const addCompartment = db.prepare(`INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state) VALUES (?, ?, ?, 400, 200, 600, 'free')`);
  db.transaction(() => {
    for (let l = 0; l < LOCKERS; l++) {
      addLocker.run(lockerId(l), lockerId(l), PEPPER, AT);
      SLOTS.forEach((size, s) => addCompartment.run(lockerId(l), compartmentId(s), size));
    }
  })();
  db.exec('ANALYZE');
  return {
    db,
    dispose: () => {
      if (db.open) db.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    },
  };
}

export interface PgBenchDb {
  schema: string;
  dispose(): Promise<void>;
}

export async function freshPg(): Promise<PgBenchDb> {
  const schema = freshSchemaName();
  const client = new pg.Client(pgConfigIn(schema));
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await migratePg(client);
    const lockers = Array.from({ length: LOCKERS }, (_, l) => lockerId(l));
    // One round trip per table: the rows travel as arrays and unnest into rows server-side.
    await client.query(
      `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
       SELECT id, id, 52.5, 13.4, '{}', '{}', 'operating', $2, $3 FROM unnest($1::text[]) AS t(id)`,
      [lockers, PEPPER, AT],
    );
    const l: string[] = [];
    const c: string[] = [];
    const s: string[] = [];
    for (const id of lockers) {
      SLOTS.forEach((size, slot) => {
        l.push(id);
        c.push(compartmentId(slot));
        s.push(size);
      });
    }
    await client.query(
      `INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state)
       SELECT l, c, s, 400, 200, 600, 'free' FROM unnest($1::text[], $2::text[], $3::text[]) AS t(l, c, s)`,
      [l, c, s],
    );
    await client.query('VACUUM ANALYZE lockers');
    await client.query('VACUUM ANALYZE compartments');
  } catch (err) {
    await client.end();
    await dropSchema(schema);
    throw err;
  }
  await client.end();
  return { schema, dispose: () => dropSchema(schema) };
}
