import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import type { CorruptionReport } from './corruption-guard.js';
import { openTestStore, tempDir, writeStoreWithDamagedIndex } from './store-test-fixtures.js';

// Corruption met at runtime must make the restart fail closed even on a file above
// integrityCheckMaxBytes, whose usual check (quick_check) does not compare indexes with
// their tables. Here integrityCheckMaxBytes is 0 (every file "large"), and the damage is an
// index missing a row of its table: quick_check passes it, integrity_check does not, and
// the update that has to remove the index entry meets SQLITE_CORRUPT_INDEX.

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('the restart after corruption met at runtime', () => {
  it('runs the full integrity_check whatever the size, and keeps refusing until the file is replaced', () => {
    const tmp = tempDir('corruption-sentinel-');
    cleanups.push(tmp.cleanup);
    const path = join(tmp.dir, 'device.db');
    const clock = new FakeClock();
    const large = { integrityCheckMaxBytes: 0 };
    writeStoreWithDamagedIndex(path, clock);

    // quick_check passes the damage: the store opens, and a write meets it.
    const reports: CorruptionReport[] = [];
    const running = openTestStore(path, clock, { ...large, onCorrupt: (r) => reports.push(r) });
    expect(() => running.finishOpen('op1', 'opened', 12)).toThrow(expect.objectContaining({ code: 'DB_CORRUPT' }));
    expect(reports).toMatchObject([{ sqliteCode: 'SQLITE_CORRUPT_INDEX', where: 'finishOpen' }]);
    running.close();
    expect(existsSync(`${path}.clean`)).toBe(false);

    // Before, this restart passed quick_check again and served until the next customer met it.
    for (let restart = 0; restart < 2; restart++) {
      expect(() => openTestStore(path, clock, large)).toThrow(expect.objectContaining({ code: 'DB_CORRUPT', message: expect.stringContaining('integrity_check') as unknown }));
    }

    // The file moved aside (docs/operations.md): the new empty database starts.
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    openTestStore(path, clock, large).close();
    expect(existsSync(`${path}.corrupt`)).toBe(false);
  });

  it('a sound file (a restored backup) passes the forced check once and opens as usual after', () => {
    const tmp = tempDir('corruption-sentinel-');
    cleanups.push(tmp.cleanup);
    const path = join(tmp.dir, 'device.db');
    openTestStore(path).close();
    writeFileSync(`${path}.corrupt`, '{}');
    openTestStore(path, new FakeClock(), { integrityCheckMaxBytes: 0 }).close();
    expect(existsSync(`${path}.corrupt`)).toBe(false);
  });
});
