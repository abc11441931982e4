import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { fillDisk, freeSpace } from '../e2e/full-disk.js';
import type { DeviceStore } from '../store/device-store.js';
import { FakeStorageReserve } from '../store/fake-storage-reserve.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import { FakeClock, openTestStore, tempDir } from '../store/store-test-fixtures.js';
import { StorageHealth, type DeferredWrite } from './storage-health.js';
import { StorageReserveKeeper } from './storage-reserve.js';

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

function keeperOn(reserve: FakeStorageReserve): { keeper: StorageReserveKeeper; logs: ReturnType<typeof captureLogs> } {
  const logs = captureLogs('info');
  return { keeper: new StorageReserveKeeper(reserve, logs.logger, MARGIN), logs };
}

describe('StorageReserveKeeper', () => {
  it('takes the reserve at start, gives it up once for lack of space, and takes it again only well above its size', () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { keeper, logs } = keeperOn(reserve);
    keeper.start();
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
    expect(reserve.taken).toBe(true);
    expect(keeper.released()).toBe(false);
    expect(logs.find('storage.reserve-restored')).toEqual([expect.objectContaining({ level: 30, bytes: 8 * MIB })]);
  });

  it('starts released, without throwing, when there is no room for the reserve (a restart on a full card)', () => {
    const reserve = new FakeStorageReserve(8 * MIB, MIB);
    const { keeper, logs } = keeperOn(reserve);
    keeper.start();
    expect(keeper.released()).toBe(true);
    expect(logs.find('storage.reserve-released')[0]).toMatchObject({ cause: 'no-room-at-start', freeBytes: MIB });
    expect(keeper.releaseForSpace('clock-tick', 'SQLITE_FULL')).toBe(false);
    reserve.free = 100 * MIB;
    keeper.check();
    expect(reserve.taken).toBe(true);
  });

  it('survives a reserve that cannot be written (logged once, not per tick) and reports nothing when disabled', () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    reserve.failure = Object.assign(new Error('permission denied'), { code: 'EACCES' });
    const { keeper, logs } = keeperOn(reserve);
    keeper.start();
    keeper.check();
    keeper.check();
    expect(keeper.released()).toBe(true);
    expect(logs.find('storage.reserve-failed')).toHaveLength(1);

    const disabled = keeperOn(new FakeStorageReserve(0, 100 * MIB)).keeper;
    disabled.start();
    expect(disabled.released()).toBeUndefined();
    expect(disabled.releaseForSpace('keypad', 'SQLITE_FULL')).toBe(false);
  });
});

describe('StorageHealth with a storage reserve', () => {
  function setup(reserve: FakeStorageReserve): { health: StorageHealth; logs: ReturnType<typeof captureLogs>; s: DeviceStore } {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    const clock = new FakeClock();
    const s = openTestStore(join(tmp.dir, 'device.db'), clock);
    store = s;
    const logs = captureLogs('info');
    const keeper = new StorageReserveKeeper(reserve, logs.logger, MARGIN);
    keeper.start();
    return { health: new StorageHealth(logs.logger, () => clock.now(), () => clock.monotonicMs(), 600_000, keeper), logs, s };
  }

  const uncommanded = (compartmentId: string): DeferredWrite => (s: RuntimeStore, { late }) => {
    s.appendAudit('door.uncommanded-open', 'normal', { compartmentId, ...late });
  };

  it('writes a record refused for lack of space at once after releasing the reserve: no outage, nothing deferred', () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { health, logs, s } = setup(reserve);
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

  it('defers as before when releasing the reserve does not make room, and does not release twice', () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { health, logs, s } = setup(reserve);
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

  it('a refused write it cannot retry (noteFailure) releases the reserve and opens no outage', () => {
    const reserve = new FakeStorageReserve(8 * MIB, 100 * MIB);
    const { health, s } = setup(reserve);
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
