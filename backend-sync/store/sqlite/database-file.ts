import type Database from 'better-sqlite3';

/** The main database's file as SQLite resolved it (through symlinks): its -wal sits beside
 * this path, not beside the name the connection was opened with. */
export function databaseFile(db: Database.Database): string {
  const main = (db.pragma('database_list') as Array<{ name: string; file: string }>).find((d) => d.name === 'main');
  return main?.file !== undefined && main.file !== '' ? main.file : db.name;
}
