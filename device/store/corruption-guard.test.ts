import { describe, expect, it } from 'vitest';
import { DeviceError } from '../errors.js';
import { guardCorruption, type CorruptionReport } from './corruption-guard.js';

// The store's one corruption mechanism: a corruption error is reported once and turns the
// store into one that refuses everything; a full or failing disk is not corruption and
// reaches storage-health.ts unchanged (a full SD card must not restart the locker).

const sqliteError = (code: string): Error => Object.assign(new Error(code), { code });

class FakeStore {
  next: Error | undefined;
  closed = 0;
  read(): string {
    if (this.next !== undefined) throw this.next;
    return 'row';
  }
  async applyLater(): Promise<string> {
    await Promise.resolve();
    if (this.next !== undefined) throw this.next;
    return 'applied';
  }
  close(): void {
    this.closed++;
  }
}

function guarded(): { fake: FakeStore; store: FakeStore; reports: CorruptionReport[]; unmarked: () => number } {
  const fake = new FakeStore();
  const reports: CorruptionReport[] = [];
  let unmarked = 0;
  const store = guardCorruption(fake, { onCorrupt: (r) => reports.push(r), closeUnmarked: () => unmarked++ });
  return { fake, store, reports, unmarked: () => unmarked };
}

describe('guardCorruption', () => {
  it('calls a method replaced on the store after it was first used, still guarded', () => {
    const { store, reports } = guarded();
    expect(store.read()).toBe('row');
    store.read = () => {
      throw sqliteError('SQLITE_CORRUPT');
    };
    expect(() => store.read()).toThrow(DeviceError);
    expect(reports).toHaveLength(1);
  });

  it.each(['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_READONLY', 'SQLITE_BUSY', 'SQLITE_CONSTRAINT_UNIQUE'])('passes %s through untouched and keeps serving', (code) => {
    const { fake, store, reports } = guarded();
    const err = sqliteError(code);
    fake.next = err;
    expect(() => store.read()).toThrow(err);
    fake.next = undefined;
    expect(store.read()).toBe('row');
    expect(reports).toEqual([]);
  });

  it.each(['SQLITE_CORRUPT', 'SQLITE_CORRUPT_INDEX', 'SQLITE_NOTADB'])('reports %s once with where, then refuses every call with DB_CORRUPT', (code) => {
    const { fake, store, reports } = guarded();
    fake.next = sqliteError(code);
    expect(() => store.read()).toThrow(expect.objectContaining({ code: 'DB_CORRUPT' }));
    fake.next = undefined;
    // The damaged page may not be read again; nothing else may be decided on this file.
    expect(() => store.read()).toThrow(DeviceError);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ sqliteCode: code, where: 'read' });
  });

  it('catches corruption met by an asynchronous call', async () => {
    const { fake, store, reports } = guarded();
    fake.next = sqliteError('SQLITE_CORRUPT');
    await expect(store.applyLater()).rejects.toMatchObject({ code: 'DB_CORRUPT' });
    expect(reports).toMatchObject([{ where: 'applyLater' }]);
  });

  it('closes without the clean-shutdown marker once corruption was met', () => {
    const { fake, store, unmarked } = guarded();
    store.close();
    expect(fake.closed).toBe(1);
    fake.next = sqliteError('SQLITE_CORRUPT');
    expect(() => store.read()).toThrow();
    store.close();
    expect(fake.closed).toBe(1);
    expect(unmarked()).toBe(1);
  });
});
