import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs, type LogCapture } from '@locker/sync-testing/log-capture.js';
import { messages } from '../core/display-messages.js';
import { FakeStorageReserve } from '../store/fake-storage-reserve.js';
import { auditRecords, fillDisk, freeSpace, NO_LIMIT, pickupAsTheDiskFills } from './full-disk.js';
import { Harness, type HarnessOptions } from './harness.js';

// The SD card fills up (full-disk.ts says how it is simulated) on a locker that keeps a
// storage reserve. The card is a fake one whose reserve, when deleted, gives its room to
// the database (max_page_count raised: "space freed"), or, in the second case, gives room
// that is used up again at once (the limit stays: release does not help).

const MIB = 1024 * 1024;
const MARGIN = 32 * MIB;

let h: Harness;
let logs: LogCapture;

afterEach(async () => {
  h.store.database.pragma(`max_page_count = ${NO_LIMIT}`);
  await h.close();
});

async function started(reserve: FakeStorageReserve, options: Omit<HarnessOptions, 'logger' | 'reserve'> = {}): Promise<Harness> {
  logs = captureLogs('info');
  h = new Harness({ ...options, reserve, logger: logs.logger, config: { storageReserve: { bytes: reserve.bytes, restoreMarginBytes: MARGIN } } });
  await h.start();
  return h;
}

/** A parcel in A02 and its code typed; the disk fills right before the relay pulse. */
const pickup = (reserve: FakeStorageReserve): Promise<ReturnType<Harness['addParcel']>> => pickupAsTheDiskFills((beforePulse) => started(reserve, { beforePulse }));

describe('a full disk on a locker with a storage reserve', () => {
  it('releases the reserve, writes the pickup at once, keeps serving, reports the release, and takes the reserve again once the card is cleaned', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    reserve.onRelease = () => freeSpace(h);
    const entry = await pickup(reserve);
    expect(reserve.releases).toBe(1);
    // Written now, not at the next tick: the code is spent in the store, not held in memory.
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('collected');
    expect(h.runtime.syncPort().health().storage).toEqual({ writable: true, writeFailures: 1, reserveReleased: true });
    expect(logs.find('storage.reserve-released')[0]).toMatchObject({ level: 40, sqliteCode: 'SQLITE_FULL', bytes: 8 * MIB, freed: true });
    expect(logs.find('storage.write-failed')).toEqual([]);

    await h.closeDoor('A02');
    expect(h.store.getCompartment('A02')?.status).toBe('free');
    expect(h.store.unfinishedOpens()).toEqual([]);

    // The next customer is served.
    h.deposit(h.addParcel({ parcelId: 'P2', compartmentId: 'A03', code: '23456789' }));
    await h.type('23456789#');
    await h.advance(100);
    expect(h.pulses('A03')).toBe(1);
    expect(h.lastText()).not.toBe(messages.unavailable.text);
    const types = auditRecords(h).map((r) => r.type);
    expect(types).toContain('pickup.collected');
    expect(types).toContain('pickup.door-closed');
    expect(types).not.toContain('device.storage-recovered');
    expect(h.store.verifyAuditChain().ok).toBe(true);

    // The reserve stays released until the card has its size plus the margin free.
    reserve.free = 8 * MIB + MARGIN - 1;
    await h.advance(10_000);
    expect(reserve.taken).toBe(false);
    reserve.free = 100 * MIB;
    await h.advance(10_000);
    expect(reserve.taken).toBe(true);
    expect(logs.find('storage.reserve-restored')).toHaveLength(1);
    expect(h.runtime.syncPort().health().storage?.reserveReleased).toBe(false);
  });

  it('keeps the full-disk deferral when releasing the reserve does not make room, and recovers as before', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    const entry = await pickup(reserve);
    expect(reserve.releases).toBe(1);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(false);
    expect(h.runtime.syncPort().health().storage).toMatchObject({ writable: false, reserveReleased: true });
    expect(logs.find('storage.write-failed')[0]).toMatchObject({ level: 50, sqliteCode: 'SQLITE_FULL' });
    await h.closeDoor('A02');

    // The code stays spent (held in memory) while the pickup's record waits.
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    await h.advance(10_000);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(false);

    freeSpace(h);
    await h.advance(10_000);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(true);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(h.store.getCompartment('A02')?.status).toBe('free');
    expect(auditRecords(h).map((r) => r.type)).toContain('device.storage-recovered');
    // The card itself is still nearly full: the reserve is not taken again, and says so.
    expect(reserve.taken).toBe(false);
    expect(h.runtime.syncPort().health().storage?.reserveReleased).toBe(true);
    expect(reserve.releases).toBe(1);
  });

  it('starts released after a restart on a card with no room for the reserve, and takes it when room comes back', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    reserve.onRelease = () => {
      freeSpace(h);
      // Whatever filled the card takes the freed room again before the restart.
      reserve.free = 0;
    };
    await pickup(reserve);
    await h.closeDoor('A02');
    expect(reserve.taken).toBe(false);

    await h.restart();
    expect(logs.find('storage.reserve-released').at(-1)).toMatchObject({ cause: 'no-room-at-start' });
    expect(h.runtime.syncPort().health().storage).toMatchObject({ writable: true, reserveReleased: true });
    expect(reserve.releases).toBe(1);

    reserve.free = 100 * MIB;
    await h.advance(10_000);
    expect(reserve.taken).toBe(true);
    expect(h.runtime.syncPort().health().storage?.reserveReleased).toBe(false);
  });
});

describe('a full disk while the storage reserve is being taken again', () => {
  it('stops the restore, frees its partial file, serves the customer, and takes the reserve once room is back', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    reserve.onRelease = () => freeSpace(h);
    await pickup(reserve);
    await h.closeDoor('A02');
    // The card was cleaned: the next tick starts the restore, which stays in progress.
    reserve.holdWrites = true;
    reserve.free = 100 * MIB;
    await h.advance(10_000);
    expect(reserve.writing).toBe(true);
    expect(h.runtime.syncPort().health().storage?.reserveReleased).toBe(true);

    // Something fills the card meanwhile; the next pickup's journal write is refused.
    const entry = h.addParcel({ parcelId: 'P2', compartmentId: 'A03', code: '23456789' });
    h.deposit(entry);
    fillDisk(h);
    await h.type('23456789#');
    await h.advance(100);
    expect(h.pulses('A03')).toBe(1);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(reserve.releases).toBe(2);
    expect(logs.find('storage.reserve-released').at(-1)).toMatchObject({ source: 'door:open-journal', during: 'restore' });
    expect(reserve.writing).toBe(false);
    expect(reserve.taken).toBe(false);
    expect(logs.find('storage.reserve-restored')).toEqual([]);

    reserve.holdWrites = false;
    await h.advance(10_000);
    expect(reserve.taken).toBe(true);
    expect(h.runtime.syncPort().health().storage).toMatchObject({ writable: true, reserveReleased: false });
  });
});

describe('a full disk at an open\'s own journal write, on a locker with a storage reserve', () => {
  it('releases the reserve and retries the journal write: the door opens for that customer, nothing refused, records durable', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    reserve.onRelease = () => freeSpace(h);
    await started(reserve);
    const entry = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '12345678' });
    h.deposit(entry);
    // Typing a code writes nothing before the open: its journal commit is the first refused.
    fillDisk(h);
    await h.type('12345678#');
    await h.advance(100);

    expect(reserve.releases).toBe(1);
    expect(h.pulses('A02')).toBe(1);
    expect(h.texts()).not.toContain(messages.unavailable.text);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(h.runtime.syncPort().health().storage).toEqual({ writable: true, writeFailures: 1, reserveReleased: true });
    expect(logs.find('storage.reserve-released')[0]).toMatchObject({ source: 'door:open-journal', sqliteCode: 'SQLITE_FULL', freed: true });
    expect(logs.find('runtime.handler-failed')).toEqual([]);
    await h.closeDoor('A02');
    expect(h.store.getCompartment('A02')?.status).toBe('free');
    expect(h.store.unfinishedOpens()).toEqual([]);
    const types = auditRecords(h).map((r) => r.type);
    expect(types.filter((t) => t === 'door.open-begun')).toHaveLength(1);
    expect(types).toContain('pickup.collected');
    expect(h.store.verifyAuditChain().ok).toBe(true);
  });

  it('opens the deposit door for a courier whose deposit journal write the full card refused, once the reserve is released', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    reserve.onRelease = () => freeSpace(h);
    await started(reserve);
    h.addParcel({ parcelId: 'D1', compartmentId: 'A03', code: '31313131' });
    await h.scan(h.token('courier', { sub: 'courier-1' }).token);
    fillDisk(h);
    await h.scan('D1');
    await h.advance(100);

    expect(reserve.releases).toBe(1);
    expect(h.pulses()).toBe(1);
    expect(h.texts()).not.toContain(messages.unavailable.text);
    expect(logs.find('storage.reserve-released')[0]).toMatchObject({ source: 'door:open-journal' });
    expect(h.runtime.syncPort().health().storage).toEqual({ writable: true, writeFailures: 1, reserveReleased: true });
    expect(h.runtime.stats().handlerErrors).toBe(0);
  });

  it('refuses the customer as before when releasing the reserve does not make room (no second release, no retry loop)', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    await started(reserve);
    const entry = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '12345678' });
    h.deposit(entry);
    fillDisk(h);
    await h.type('12345678#');
    await h.advance(100);

    expect(reserve.releases).toBe(1);
    expect(h.pulses('A02')).toBe(0);
    expect(h.lastText()).toBe(messages.unavailable.text);
    expect(h.runtime.syncPort().health().storage).toMatchObject({ writable: false, writeFailures: 2, reserveReleased: true });
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(false);
  });
});

describe('a full disk at a write a customer\'s or courier\'s input causes, on a locker with a storage reserve', () => {
  /** The keypad guard's persisted failures (what a restart would count). */
  const persistedFailures = (): number => (JSON.parse(h.store.loadState('rate-limiter') ?? '{"failures":[]}') as { failures: unknown[] }).failures.length;

  it('locks the keypad out on the wrong code whose lockout record the full card refused, once the reserve is released: lockout durable, no free guess', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    reserve.onRelease = () => freeSpace(h);
    await started(reserve);
    for (let i = 1; i <= 3; i++) await h.type(`9${String(i)}012345#`);
    expect(h.lastText()).toBe(messages.notValid.text);
    fillDisk(h);
    await h.type('94012345#');

    expect(reserve.releases).toBe(1);
    expect(h.lastText()).toBe('Keypad locked after too many wrong codes. Try again in 30 s.');
    expect(h.texts()).not.toContain(messages.unavailable.text);
    expect(h.runtime.health().lockout).toMatchObject({ active: true, failures: 4 });
    // Durable: the failure count and the lockout record are in the store, once each.
    expect(persistedFailures()).toBe(4);
    expect(auditRecords(h).filter((r) => r.type === 'keypad.lockout')).toHaveLength(1);
    expect(h.runtime.health().lockouts).toBe(1);
    expect(h.store.verifyAuditChain().ok).toBe(true);
    await h.restart();
    expect(h.runtime.health().lockout).toMatchObject({ active: true, failures: 4 });
  });

  it('starts a courier session whose start record the full card refused, once the reserve is released', async () => {
    const reserve = new FakeStorageReserve(8 * MIB, 8 * MIB);
    reserve.onRelease = () => freeSpace(h);
    await started(reserve);
    h.addParcel({ parcelId: 'D1', compartmentId: 'A03', code: '31313131' });
    fillDisk(h);
    await h.scan(h.token('courier', { sub: 'courier-1' }).token);

    expect(reserve.releases).toBe(1);
    expect(logs.find('storage.reserve-released')[0]).toMatchObject({ source: 'courier:session-start', freed: true });
    expect(h.texts()).not.toContain(messages.unavailable.text);
    expect(auditRecords(h).map((r) => r.type)).toContain('courier.session-started');
    expect(h.runtime.stats().handlerErrors).toBe(0);
    // The session is there: the parcel scan opens its door.
    await h.scan('D1');
    await h.advance(100);
    expect(h.pulses('A03')).toBe(1);
    expect(h.runtime.syncPort().health().storage).toEqual({ writable: true, writeFailures: 1, reserveReleased: true });
  });
});
