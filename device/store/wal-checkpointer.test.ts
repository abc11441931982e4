import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import type { DeviceStore } from './device-store.js';
import { openTestStore, tempDir } from './store-test-fixtures.js';
import { leaseCheckpoints, WalCheckpointer } from './wal-checkpointer.js';

// The checkpoints of a large sliced apply run on a worker's own connection (decision 0025,
// addendum). Observed from outside: the database file itself grows only when a checkpoint
// copies the WAL into it, and a graceful close leaves no WAL file only when the main
// connection was the last one open.

const FILLER_ROWS = 400;

/** About 1.6 MB of new pages in the WAL (400 rows of 4 KB), none copied into the file yet. */
function fill(store: DeviceStore, tag: string): void {
  const db = store.database;
  db.exec('CREATE TABLE IF NOT EXISTS filler (id TEXT PRIMARY KEY, body BLOB NOT NULL)');
  const insert = db.prepare<[string, Buffer]>('INSERT INTO filler (id, body) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < FILLER_ROWS; i++) insert.run(`${tag}-${String(i)}`, Buffer.alloc(4000, i % 251));
  })();
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('WalCheckpointer', () => {
  let dir: string;
  let cleanup: () => void;
  let path: string;
  let store: DeviceStore;
  let checkpointer: WalCheckpointer;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('checkpointer-'));
    path = join(dir, 'store.db');
    store = openTestStore(path, undefined, { checkpointWorker: false });
    checkpointer = new WalCheckpointer(path, silentLogger());
    checkpointer.start();
  });
  afterEach(() => {
    checkpointer.stop();
    store.close();
    cleanup();
  });

  it('copies the WAL into the database file from the worker while the main connection does not checkpoint', async () => {
    const lease = leaseCheckpoints(store.database, checkpointer);
    expect(store.database.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = statSync(path).size;
    fill(store, 'a');
    // Nobody checkpointed: the rows are only in the WAL.
    expect(statSync(path).size).toBe(before);
    lease?.afterCommit();
    await until(() => checkpointer.stats().checkpoints > 0 && statSync(path).size > before + FILLER_ROWS * 4000);
    expect(checkpointer.workerRunning).toBe(true);
    lease?.release();
    expect(store.database.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('holds no connection once stop() returns, so the main connection folds the WAL in at close', async () => {
    for (let round = 0; round < 8; round++) {
      const roundPath = join(dir, `round-${String(round)}.db`);
      const s = openTestStore(roundPath, undefined, { checkpointWorker: false });
      const c = new WalCheckpointer(roundPath, silentLogger());
      c.start();
      const lease = leaseCheckpoints(s.database, c);
      // A first pass boots the worker, so the stop below can land inside the next one.
      fill(s, 'warm');
      lease?.afterCommit();
      await until(() => c.stats().checkpoints > 0);
      for (let i = 0; i < 4; i++) fill(s, `r${String(i)}`);
      lease?.afterCommit();
      // Stop at varying points: before, during or after the worker's checkpoint.
      await new Promise((resolve) => setTimeout(resolve, round));
      c.stop();
      lease?.release();
      s.close();
      expect(existsSync(`${roundPath}-wal`)).toBe(false);
      expect(existsSync(`${roundPath}.clean`)).toBe(true);
    }
  });

  it('gives checkpoints back to the main connection when the worker cannot run them', async () => {
    const broken = new WalCheckpointer(join(dir, 'missing', 'no.db'), silentLogger());
    broken.start();
    try {
      const lease = leaseCheckpoints(store.database, broken);
      expect(store.database.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      lease?.afterCommit();
      await until(() => !broken.available);
      lease?.afterCommit();
      expect(store.database.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      // And no later lease is handed out.
      expect(leaseCheckpoints(store.database, broken)).toBeUndefined();
    } finally {
      broken.stop();
    }
  });

  it('starts no worker before the first request and stops it after the idle period', async () => {
    const idle = new WalCheckpointer(path, silentLogger(), { idleMs: 100 });
    idle.start();
    try {
      expect(idle.workerRunning).toBe(false);
      fill(store, 'i');
      idle.request();
      expect(idle.workerRunning).toBe(true);
      await until(() => idle.stats().checkpoints > 0);
      await until(() => !idle.workerRunning);
    } finally {
      idle.stop();
    }
  });
});
