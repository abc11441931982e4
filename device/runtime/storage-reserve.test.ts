import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { fillDisk, freeSpace } from '../e2e/full-disk.js';
import type { DeviceStore } from '../store/device-store.js';
import { FakeStorageReserve } from '../store/fake-storage-reserve.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import { FakeClock, openTestStore, tempDir } from '../store/store-test-fixtures.js';
import { StorageHealth, type DeferredWrite } from './storage-health.js';
import { MAX_RESTORE_BACKOFF_CHECKS, StorageReserveKeeper } from './storage-reserve.js';

// The reserve policy on a fake card, and StorageHealth's use of it against a real database
// file that refuses writes for lack of space (max_page_count, e2e/full-disk.ts).

const MIB = 1024 * 1024;
const MARGIN = 32 * MIB;

let store: DeviceStore | undefined;
let cleanup: (() => void) | undefined;

afterEach(() => {
  store?.close();
  store = undefined;
  cleanup?.();
  cleanup = undefined;
});

/** Lets a write the keeper started in the background (check()) finish. */
async function settled(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function keeperOn(reserve: FakeStorageReserve): { keeper: StorageReserveKeeper; logs: ReturnType<typeof captureLogs> } {
  const logs = captureLogs('info');
  return { keeper: new StorageReserveKeeper(reserve, logs.logger, MARGIN), logs };
}

describe('StorageReserveKeeper', () => {
  it('takes the reserve at start, gives it up once for lack of space, and takes it again only well above its size', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { keeper, logs } = keeperOn(reserve);
    await keeper.start();
    expect(reserve.taken).toBe(true);
    expect(keeper.released()).toBe(false);

    expect(keeper.releaseForSpace('keypad', 'SQLITE_FULL')).toBe(true);
    expect(keeper.releaseForSpace('keypad', 'SQLITE_FULL')).toBe(false);
    expect(reserve.releases).toBe(1);
    expect(keeper.released()).toBe(true);
    expect(logs.find('storage.reserve-released')).toEqual([expect.objectContaining({ level: 40, source: 'keypad', sqliteCode: 'SQLITE_FULL', bytes: 8 * MIB, freed: true })]);

    // Room for the reserve, but not the margin beyond it: not yet (no flapping at the edge).
    reserve.free = 8 * MIB + MARGIN - 1;
    keeper.check();
    expect(reserve.taken).toBe(false);
    reserve.free = 8 * MIB + MARGIN;
    keeper.check();
    await settled();
    expect(reserve.taken).toBe(true);
    expect(keeper.released()).toBe(false);
    expect(logs.find('storage.reserve-restored')).toEqual([expect.objectContaining({ level: 30, bytes: 8 * MIB })]);
  });

  it('starts released, without throwing, when there is no room for the reserve (a restart on a full card)', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, MIB);
    const { keeper, logs } = keeperOn(reserve);
    await keeper.start();
    expect(keeper.released()).toBe(true);
    expect(logs.find('storage.reserve-released')[0]).toMatchObject({ cause: 'no-room-at-start', freeBytes: MIB });
    expect(keeper.releaseForSpace('clock-tick', 'SQLITE_FULL')).toBe(false);
    reserve.free = 100 * MIB;
    keeper.check();
    await settled();
    expect(reserve.taken).toBe(true);
  });

  it('survives a reserve that cannot be written (logged once, not per tick) and reports nothing when disabled', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    reserve.failure = Object.assign(new Error('permission denied'), { code: 'EACCES' });
    const { keeper, logs } = keeperOn(reserve);
    await keeper.start();
    keeper.check();
    await settled();
    keeper.check();
    await settled();
    expect(keeper.released()).toBe(true);
    expect(logs.find('storage.reserve-failed')).toHaveLength(1);

    const disabled = keeperOn(new FakeStorageReserve(0, 100 * MIB)).keeper;
    await disabled.start();
    expect(disabled.released()).toBeUndefined();
    expect(disabled.releaseForSpace('keypad', 'SQLITE_FULL')).toBe(false);
  });

  it('backs off between failed restores (megabytes rewritten every tick would wear the card out), and still restores once it can', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    reserve.failure = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    let attempts = 0;
    const ensure = reserve.ensure.bind(reserve);
    reserve.ensure = () => {
      attempts++;
      return ensure();
    };
    const { keeper } = keeperOn(reserve);
    await keeper.start();
    for (let tick = 0; tick < 1_000; tick++) {
      keeper.check();
      await settled();
    }
    // 1 + 2 + 4 + … ticks between attempts: about log2(1000) of them, not a thousand.
    expect(attempts).toBeGreaterThan(3);
    expect(attempts).toBeLessThanOrEqual(11);
    reserve.failure = undefined;
    for (let tick = 0; tick < 2 * MAX_RESTORE_BACKOFF_CHECKS && keeper.released() === true; tick++) {
      keeper.check();
      await settled();
    }
    expect(keeper.released()).toBe(false);
  });
});

describe('StorageReserveKeeper restoring the reserve in the background', () => {
  async function releasedKeeper(): Promise<{ reserve: FakeStorageReserve; keeper: StorageReserveKeeper; logs: ReturnType<typeof captureLogs> }> {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { keeper, logs } = keeperOn(reserve);
    await keeper.start();
    keeper.releaseForSpace('keypad', 'SQLITE_FULL');
    reserve.holdWrites = true;
    return { reserve, keeper, logs };
  }

  it('returns from check() at once, counts the reserve released while it is written, and never starts a second write meanwhile', async () => {
    const { reserve, keeper, logs } = await releasedKeeper();
    keeper.check();
    expect(reserve.writing).toBe(true);
    expect(keeper.released()).toBe(true);
    keeper.check();
    keeper.check();
    await settled();
    expect(reserve.writes).toBe(2);
    reserve.resume();
    await settled();
    expect(reserve.taken).toBe(true);
    expect(keeper.released()).toBe(false);
    expect(logs.find('storage.reserve-restored')).toHaveLength(1);
  });

  it('a write refused for lack of space during the restore stops it, frees its partial file at once, and the restore never marks it held', async () => {
    const { reserve, keeper, logs } = await releasedKeeper();
    keeper.check();
    expect(keeper.releaseForSpace('pickup:door-opened', 'SQLITE_FULL')).toBe(true);
    expect(reserve.releases).toBe(2);
    expect(logs.find('storage.reserve-released').at(-1)).toMatchObject({ source: 'pickup:door-opened', during: 'restore', freed: true });
    // Once per episode: nothing more to give.
    expect(keeper.releaseForSpace('pickup:door-opened', 'SQLITE_FULL')).toBe(false);
    await settled();
    expect(reserve.taken).toBe(false);
    expect(keeper.released()).toBe(true);
    expect(logs.find('storage.reserve-restored')).toEqual([]);
    // Room again later: a new restore.
    reserve.holdWrites = false;
    keeper.check();
    await settled();
    expect(reserve.taken).toBe(true);
    expect(keeper.released()).toBe(false);
  });

  it('a stop cancels a write in progress and waits for it; the reserve stays released', async () => {
    const { reserve, keeper } = await releasedKeeper();
    keeper.check();
    await keeper.stop();
    expect(reserve.writing).toBe(false);
    expect(reserve.taken).toBe(false);
    expect(keeper.released()).toBe(true);
  });

  it('logs a free-space figure it cannot read once per episode, never throws from check()', async () => {
    const { reserve, keeper, logs } = await releasedKeeper();
    reserve.freeFailure = Object.assign(new Error('no such file or directory'), { code: 'ENOENT' });
    for (let i = 0; i < 5; i++) keeper.check();
    expect(logs.find('storage.reserve-free-space-unknown')).toHaveLength(1);
    expect(reserve.writing).toBe(false);
    reserve.freeFailure = undefined;
    reserve.free = 0;
    keeper.check();
    reserve.freeFailure = Object.assign(new Error('no such file or directory'), { code: 'ENOENT' });
    keeper.check();
    keeper.check();
    expect(logs.find('storage.reserve-free-space-unknown')).toHaveLength(2);
  });
});

describe('StorageHealth with a storage reserve', () => {
  async function setup(reserve: FakeStorageReserve): Promise<{ health: StorageHealth; logs: ReturnType<typeof captureLogs>; s: DeviceStore }> {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    const clock = new FakeClock();
    const s = openTestStore(join(tmp.dir, 'device.db'), clock);
    store = s;
    const logs = captureLogs('info');
    const keeper = new StorageReserveKeeper(reserve, logs.logger, MARGIN);
    await keeper.start();
    return { health: new StorageHealth(logs.logger, () => clock.now(), () => clock.monotonicMs(), 600_000, keeper), logs, s };
  }

  const uncommanded = (compartmentId: string): DeferredWrite => (s: RuntimeStore, { late }) => {
    s.appendAudit('door.uncommanded-open', 'normal', { compartmentId, ...late });
  };

  it('writes a record refused for lack of space at once after releasing the reserve: no outage, nothing deferred', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { health, logs, s } = await setup(reserve);
    reserve.onRelease = () => freeSpace({ store: s });
    fillDisk({ store: s });

    expect(health.writeOrDefer(s, 'door:audit', 'door.uncommanded-open', uncommanded('A1'))).toBe(true);
    expect(reserve.releases).toBe(1);
    expect(health.degraded()).toBe(false);
    expect(health.status()).toEqual({ writable: true, writeFailures: 1, reserveReleased: true });
    expect(s.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 10_000 }).filter((r) => r.type === 'door.uncommanded-open')).toHaveLength(1);
    expect(logs.find('storage.write-failed')).toEqual([]);
    expect(health.reportUnwritten()).toBe(0);
  });

  it('defers as before when releasing the reserve does not make room, and does not release twice', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { health, logs, s } = await setup(reserve);
    fillDisk({ store: s });

    expect(health.writeOrDefer(s, 'door:audit', 'door.uncommanded-open', uncommanded('A1'))).toBe(false);
    expect(health.writeOrDefer(s, 'door:audit', 'door.uncommanded-open', uncommanded('A2'))).toBe(false);
    expect(reserve.releases).toBe(1);
    expect(health.status()).toEqual({ writable: false, writeFailures: 2, reserveReleased: true });
    expect(logs.find('storage.write-failed')[0]).toMatchObject({ level: 50, sqliteCode: 'SQLITE_FULL' });

    freeSpace({ store: s });
    health.probe(s);
    expect(health.status().writable).toBe(true);
    expect(s.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 10_000 }).filter((r) => r.type === 'door.uncommanded-open')).toHaveLength(2);
  });

  it('a refused write it cannot retry (noteFailure) releases the reserve and opens no outage', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { health, s } = await setup(reserve);
    reserve.onRelease = () => freeSpace({ store: s });
    fillDisk({ store: s });
    let refused: unknown;
    try {
      s.appendAudit('device.stopped', 'normal', {});
    } catch (err) {
      refused = err;
    }
    expect(health.noteFailure(refused, 'keypad')).toBe(true);
    expect(health.degraded()).toBe(false);
    expect(health.status()).toEqual({ writable: true, writeFailures: 1, reserveReleased: true });
    // The next write finds room.
    expect(health.writeOrDefer(s, 'door:audit', 'door.uncommanded-open', uncommanded('A1'))).toBe(true);
  });
});
