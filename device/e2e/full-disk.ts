import { expect } from 'vitest';
import type { DeviceStore } from '../store/device-store.js';
import type { Harness } from './harness.js';

// The SD card is full: every write that needs a new page fails with SQLITE_FULL while
// reads work. Simulated on the runtime's own connection (store.database) with
// `PRAGMA max_page_count`: free pages are given back first, the limit is set to the file's
// size, then the audit table's last page is filled, so every audited transaction (every
// open, deposit and door event) is refused as on a full disk. Raising the limit is
// "space freed". The limit belongs to the connection: a restart opens the store with
// space again unless the test fills it in `storeOpened`.

export const NO_LIMIT = 1_073_741_823;

/** What filling needs: the runtime's store (a Harness, or a bare store in a unit test). */
interface HasStore {
  store: DeviceStore;
}

export function fillDisk(h: HasStore): void {
  const db = h.store.database;
  db.pragma('incremental_vacuum');
  db.pragma(`max_page_count = ${String(db.pragma('page_count', { simple: true }))}`);
  for (let i = 0; i < 10_000; i++) {
    try {
      h.store.appendAudit('device.stopped', 'normal', {});
    } catch (err) {
      expect((err as { code?: string }).code).toBe('SQLITE_FULL');
      return;
    }
  }
  throw new Error('the database never filled up');
}

export function freeSpace(h: HasStore): void {
  h.store.database.pragma(`max_page_count = ${NO_LIMIT}`);
}

export interface AuditRecord {
  seq: number;
  at: number;
  type: string;
  data: Record<string, unknown>;
}

/** The unacked audit records of both lanes, in chain order, data parsed. */
export function auditRecords(h: HasStore): AuditRecord[] {
  return (['normal', 'priority'] as const)
    .flatMap((lane) => h.store.readUnackedAudit({ lane, afterSeq: 0, limit: 100_000 }))
    .sort((a, b) => a.seq - b.seq)
    .map((r) => ({ seq: r.seq, at: r.at, type: r.type, data: JSON.parse(r.dataJson) as Record<string, unknown> }));
}

/**
 * A parcel in A02 and its code typed; the disk fills between the open's journal commit and
 * the relay pulse, so the door opens (once) and what follows is refused. `start` brings the
 * locker up with the given beforePulse hook (and whatever else the test needs) and returns it.
 */
export async function pickupAsTheDiskFills(start: (beforePulse: () => void) => Promise<Harness>): Promise<ReturnType<Harness['addParcel']>> {
  let fill = false;
  const h: Harness = await start(() => {
    if (fill) fillDisk(h);
  });
  const entry = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '12345678' });
  h.deposit(entry);
  fill = true;
  await h.type('12345678#');
  await h.advance(100);
  fill = false;
  expect(h.pulses('A02')).toBe(1);
  return entry;
}

/**
 * fillDisk, then the state table's last page too (rows in their own commits, large ones then
 * the smallest, to leave no gap), so a state row that is added or grows is refused as well,
 * and the command log's (fillCommandLog): a card full to the last byte, where fillDisk alone
 * leaves room in the pages other tables already have.
 */
export function fillState(h: HasStore): void {
  fillDisk(h);
  let n = 0;
  for (const size of [64, 0]) {
    for (let i = 0; ; i++) {
      if (i === 10_000) throw new Error('the state table never filled up');
      try {
        h.store.saveState(`f${String(n++)}`, JSON.stringify('x'.repeat(size)));
      } catch (err) {
        expect((err as { code?: string }).code).toBe('SQLITE_FULL');
        break;
      }
    }
  }
  fillCommandLog(h);
}

/**
 * The file limited to its size (as fillDisk) and the command log's last page filled, so a
 * command's begin is refused: the agent's first write for a command. Alone, it leaves the
 * audit log writable (no records for the agent to upload whose ack the disk would refuse).
 * The filler rows are completed commands (never 'unfinished', never answered), the
 * smallest as small as any begin can be: an 8-character id, no reply.
 */
export function fillCommandLog(h: HasStore): void {
  const db = h.store.database;
  db.pragma('incremental_vacuum');
  db.pragma(`max_page_count = ${String(db.pragma('page_count', { simple: true }))}`);
  const insert = db.prepare<[string, string | null]>(
    `INSERT INTO command_log (transaction_id, kind, started_at, expires_at, completed_at, reply_json) VALUES (?, 'resync', 0, 0, 0, ?)`,
  );
  let n = 0;
  for (const size of [64, 0]) {
    for (let i = 0; ; i++) {
      if (i === 10_000) throw new Error('the command log never filled up');
      try {
        insert.run(`f${String(n++).padStart(7, '0')}`, size === 0 ? null : 'x'.repeat(size));
      } catch (err) {
        expect((err as { code?: string }).code).toBe('SQLITE_FULL');
        break;
      }
    }
  }
}
