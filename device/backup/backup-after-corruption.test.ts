import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { openTestStore, tempDir, writeStoreWithDamagedIndex } from '../store/store-test-fixtures.js';
import { backupDatabase } from './backup-database.js';

// update.sh backs the database up before switching releases, and keeps only the newest two
// copies. A file the running locker met corruption in (locker.db.corrupt beside it) and
// above integrityCheckMaxBytes was verified with quick_check, which passes an index missing
// a row of its table: a damaged file became a "verified" pre-update-<version>.db and could
// push a sound older copy out. With the sentinel there the copy gets the full check, as the
// device's own next open does (store/corruption-sentinel.ts).

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('backing up a database the running locker found corrupt', () => {
  it('runs the full integrity_check whatever the size, and refuses the damaged copy', async () => {
    const tmp = tempDir('backup-corrupt-');
    cleanups.push(tmp.cleanup);
    const path = join(tmp.dir, 'locker.db');
    const clock = new FakeClock();
    const large = { integrityCheckMaxBytes: 0 };
    writeStoreWithDamagedIndex(path, clock);
    const running = openTestStore(path, clock, large);
    expect(() => running.finishOpen('op1', 'opened', 12)).toThrow(expect.objectContaining({ code: 'DB_CORRUPT' }));
    running.close();
    expect(existsSync(`${path}.corrupt`)).toBe(true);

    const out = join(tmp.dir, 'pre-update-1.0.0.db');
    await expect(backupDatabase({ dbPath: path, out, integrityCheckMaxBytes: 0 })).rejects.toMatchObject({ code: 'BACKUP_FAILED', message: expect.stringContaining('integrity_check') as unknown });
    expect(existsSync(out)).toBe(false);
  });

  it('a sound file with the sentinel (a restored backup not yet started) is copied, fully checked', async () => {
    const tmp = tempDir('backup-corrupt-');
    cleanups.push(tmp.cleanup);
    const path = join(tmp.dir, 'locker.db');
    openTestStore(path).close();
    writeFileSync(`${path}.corrupt`, '{}');
    const result = await backupDatabase({ dbPath: path, out: join(tmp.dir, 'copy.db'), integrityCheckMaxBytes: 0 });
    expect(result.check).toBe('integrity_check');
    // The backup only reads: the sentinel is the device's to clear at its next open.
    expect(existsSync(`${path}.corrupt`)).toBe(true);
  });
});
