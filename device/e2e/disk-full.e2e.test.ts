import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs, type LogCapture } from '@locker/sync-testing/log-capture.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import { messages } from '../core/display-messages.js';
import { MAX_DEFERRED_AUDITS } from '../runtime/storage-health.js';
import { auditRecords, fillDisk as fillDiskOf, freeSpace as freeSpaceOf, NO_LIMIT, pickupAsTheDiskFills, type AuditRecord } from './full-disk.js';
import { Harness, LOCKER, PEPPER, type HarnessOptions } from './harness.js';

// The SD card is full (full-disk.ts says how it is simulated).

let h: Harness;
let logs: LogCapture;

afterEach(async () => {
  h.store.database.pragma(`max_page_count = ${NO_LIMIT}`);
  await h.close();
});

async function started(options: Omit<HarnessOptions, 'logger'> = {}): Promise<Harness> {
  logs = captureLogs('info');
  h = new Harness({ ...options, logger: logs.logger });
  await h.start();
  return h;
}

const fillDisk = (): void => fillDiskOf(h);
const freeSpace = (): void => freeSpaceOf(h);
const records = (): AuditRecord[] => auditRecords(h);

const storageLines = (): number => logs.lines.filter((l) => l.msg.startsWith('storage.')).length;

/**
 * `found` are exactly records of `types`, written once space was back but carrying when the
 * locker decided them (at or before `decidedBy`) as occurredAt, earlier than their own `at`.
 */
function expectWrittenLate(found: AuditRecord[], types: string[], decidedBy: number): void {
  expect(found.map((r) => r.type)).toEqual(types);
  for (const r of found) {
    expect(r.data.occurredAt, r.type).toBeLessThanOrEqual(decidedBy);
    expect(r.at, r.type).toBeGreaterThan(Number(r.data.occurredAt));
  }
}

/** A parcel in A02 and its code typed as the disk fills (full-disk.ts). */
const pickup = (): Promise<ReturnType<Harness['addParcel']>> => pickupAsTheDiskFills((beforePulse) => started({ beforePulse }));

describe('a full disk (the database refuses writes)', () => {
  it('opens no door for a valid code, says the locker is unavailable, and opens once space is freed, without a restart', async () => {
    await started();
    const entry = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '12345678' });
    h.deposit(entry);
    fillDisk();

    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(0);
    expect(h.lastText()).toBe(messages.unavailable.text);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(false);
    expect(h.runtime.stats().handlerErrors).toBe(0);
    expect(logs.find('storage.write-failed')[0]).toMatchObject({ level: 50, errorCode: 'DB_WRITE_FAILED', sqliteCode: 'SQLITE_FULL', source: 'keypad' });
    expect(h.runtime.syncPort().health().storage).toEqual({ writable: false, writeFailures: 1 });

    freeSpace();
    await h.advance(10_000);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(true);
    expect(logs.find('storage.recovered')).toHaveLength(1);
    expect(h.auditTypes()).toContain('device.storage-recovered');

    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(h.store.verifyAuditChain().ok).toBe(true);
  });

  it('starts no courier session and opens no door for a courier while full', async () => {
    await started();
    h.addParcel({ parcelId: 'P2', compartmentId: 'A03', code: '22223333' });
    fillDisk();
    await h.scan(h.token('courier', { sub: 'courier-1' }).token);
    await h.scan('P2');
    await h.advance(100);
    expect(h.pulses()).toBe(0);
    expect(h.lastText()).not.toContain('A03');
    expect(h.runtime.stats().handlerErrors).toBe(0);
  });

  it('still sounds the alarm for a door forced open while full, and writes its audit record when space is back', async () => {
    await started();
    fillDisk();
    h.control.injectFault('A04', 'forced-open');
    await h.advance(200);
    expect(h.control.indicator.beeps()).toContain('alarm');
    expect(h.lastText()).toContain('A04');
    const priority = (): string[] => h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).map((r) => r.type);
    expect(priority()).not.toContain('door.uncommanded-open');

    freeSpace();
    await h.advance(10_000);
    const types = priority();
    expect(types).toContain('door.uncommanded-open');
    expect(types.indexOf('door.uncommanded-open')).toBeLessThan(types.indexOf('device.storage-recovered'));
    const recovered = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).find((r) => r.type === 'device.storage-recovered');
    expect(JSON.parse(recovered?.dataJson ?? '{}')).toMatchObject({ deferredEvents: 1, lostEvents: 0 });
  });

  it('does not flood the log or crash over a full night of refused input', async () => {
    await started();
    const entry = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '12345678' });
    h.deposit(entry);
    fillDisk();
    const before = logs.lines.length;
    for (let i = 0; i < 50; i++) {
      await h.type('12345678#');
      await h.advance(60_000);
    }
    await h.advance(6 * 3_600_000);
    // One error line, then per 10-minute window at most one line and one summary.
    expect(storageLines()).toBeLessThanOrEqual(1 + 2 * Math.ceil((50 * 60_000 + 6 * 3_600_000) / 600_000));
    expect(logs.lines.length - before).toBeLessThanOrEqual(storageLines() + 60);
    expect(h.pulses()).toBe(0);
    expect(h.runtime.stats().handlerErrors).toBe(0);
    freeSpace();
    await h.advance(10_000);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(true);
  });

  it('refuses a code batch whole while full and applies it once space is freed', async () => {
    await started();
    const version = h.store.codeSetState().version;
    fillDisk();
    expect(() => h.addParcel({ parcelId: 'P9', compartmentId: 'A05', code: '99990000' })).toThrow();
    expect(h.store.codeSetState().version).toBe(version);
    expect(h.store.findEntriesByParcel('P9')).toEqual([]);
    freeSpace();
    h.addParcel({ parcelId: 'P9', compartmentId: 'A05', code: '99990000' });
    expect(h.store.findEntriesByParcel('P9')).toHaveLength(1);
  });

  it('leaves no half-applied sliced batch (as the sync agent applies it) while full, and applies it later', async () => {
    await started();
    const state = h.store.codeSetState();
    const upserts = Array.from({ length: 300 }, (_, i) => {
      const code = String(10_000_000 + i);
      const digest = codeDigest(PEPPER, LOCKER, code);
      const { jti, token } = h.token('pickup', { cmp: 'A05', par: `S${String(i)}`, cdh: digest });
      return { tokenId: jti, token, codeDigest: digest, parcelId: `S${String(i)}`, compartmentId: 'A05', size: 'M' as const, kind: 'pickup' as const };
    });
    const batch = { lockerId: LOCKER, kind: 'delta' as const, fromVersion: state.version, toVersion: state.version + 1, upserts, revocations: [], keyring: [] };
    fillDisk();
    await expect(h.runtime.syncPort().applyCodeBatchInSlices(batch)).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    expect(h.store.codeSetState().version).toBe(state.version);
    expect(h.store.findEntriesByParcel('S0')).toEqual([]);
    freeSpace();
    const result = await h.runtime.syncPort().applyCodeBatchInSlices(batch);
    expect(result.outcome).toBe('applied');
    expect(h.store.findEntriesByParcel('S299')).toHaveLength(1);
  });

  it('recovers even when every write fails, the clock tick\'s own checkpoint included (query_only as the stricter disk)', async () => {
    await started();
    const entry = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '12345678' });
    h.deposit(entry);
    h.store.database.pragma('query_only = ON');
    await h.advance(3_600_000);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(0);
    expect(h.lastText()).toBe(messages.unavailable.text);
    expect(storageLines()).toBeLessThanOrEqual(1 + 2 * 7);
    h.store.database.pragma('query_only = OFF');
    await h.advance(10_000);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(true);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
  });

  it('records a deposit whose door closed on a full disk once space is back, with its time, and meanwhile hands that door to no other parcel', async () => {
    await started();
    // A02 is taken, so D1 goes into another door: nothing but the deposit itself says that door is full.
    h.deposit(h.addParcel({ parcelId: 'OLD', compartmentId: 'A02', code: '30303030' }));
    const first = h.addParcel({ parcelId: 'D1', compartmentId: 'A02', code: '31313131' });
    await h.scan(h.token('courier', { sub: 'courier-1' }).token);
    await h.scan('D1');
    await h.advance(100);
    const used = h.compartments.map((c) => c.id).find((id) => h.control.doorIsOpen(id));
    if (used === undefined) throw new Error('no deposit door opened');
    fillDisk();
    await h.advance(5_000);
    const closedAt = h.runtime.trustedNow();
    await h.closeDoor(used);
    expect(h.runtime.stats().handlerErrors).toBe(0);

    // Space is back before the next clock tick wrote the deposit: the parcel is inside
    // all the same, so the next parcel addressed to that door goes elsewhere.
    freeSpace();
    const second = h.addParcel({ parcelId: 'D2', compartmentId: used, code: '32323232' });
    await h.scan('D2');
    await h.advance(100);
    expect(h.pulses(used)).toBe(1);
    expect(h.pulses()).toBe(2);
    expect(h.store.findEntryByTokenId(second.tokenId)?.state).toBe('awaiting-deposit');

    await h.advance(10_000);
    expect(h.store.findEntryByTokenId(first.tokenId)).toMatchObject({ state: 'live', currentCompartmentId: used });
    expect(h.store.getCompartment(used)).toMatchObject({ status: 'occupied', parcelId: 'D1' });
    const all = records();
    const deposited = all.find((r) => r.type === 'courier.deposited' && r.data.parcelId === 'D1');
    // When the door closed (after the sensor's debounce), not when space came back.
    expect(deposited?.data.occurredAt).toBeGreaterThanOrEqual(closedAt);
    expect(deposited?.data.occurredAt).toBeLessThan(closedAt + 1_000);
    expect(deposited?.at).toBeGreaterThan(closedAt + 1_000);
    const recovered = all.find((r) => r.type === 'device.storage-recovered');
    expect(deposited?.seq).toBeLessThan(recovered?.seq ?? 0);
    expect(h.store.verifyAuditChain().ok).toBe(true);
    // The customer's code opens the door the parcel is in.
    await h.type('31313131#');
    await h.advance(100);
    expect(h.pulses(used)).toBe(2);
  });

  it('frees a compartment whose pickup door closed on a full disk once space is back, recording the close with its time', async () => {
    await started();
    const entry = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '12345678' });
    h.deposit(entry);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.control.doorIsOpen('A02')).toBe(true);
    fillDisk();
    await h.advance(5_000);
    const closedAt = h.runtime.trustedNow();
    await h.closeDoor('A02');
    expect(h.runtime.stats().handlerErrors).toBe(0);
    freeSpace();
    await h.advance(10_000);
    expect(h.store.getCompartment('A02')?.status).toBe('free');
    const closed = records().find((r) => r.type === 'pickup.door-closed');
    expect(closed?.data).toMatchObject({ tokenId: entry.tokenId, compartmentId: 'A02' });
    expect(closed?.data.occurredAt).toBeGreaterThanOrEqual(closedAt);
    expect(closed?.data.occurredAt).toBeLessThan(closedAt + 1_000);
    expect(closed?.at).toBeGreaterThan(closedAt + 1_000);
    expect(h.store.unfinishedOpens()).toEqual([]);
    expect(h.store.verifyAuditChain().ok).toBe(true);
  });

  it('never opens twice for one code when the disk filled between the open\'s journal commit and the door opening', async () => {
    const entry = await pickup();
    expect(h.control.doorIsOpen('A02')).toBe(true);
    const openedAt = h.runtime.trustedNow();
    await h.closeDoor('A02');

    // Space is back before the clock tick wrote the pickup: the code is spent all the same.
    freeSpace();
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);

    await h.advance(10_000);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('collected');
    expect(h.store.unfinishedOpens()).toEqual([]);
    expect(h.store.getCompartment('A02')?.status).toBe('free');
    const types = records().map((r) => r.type);
    expect(types.indexOf('pickup.collected')).toBeLessThan(types.indexOf('pickup.door-closed'));
    const collected = records().find((r) => r.type === 'pickup.collected');
    expect(collected?.data.occurredAt).toBeLessThanOrEqual(openedAt);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
  });

  it('does not open twice for one code after a restart lost the pickup record the full disk refused', async () => {
    const entry = await pickup();
    await h.closeDoor('A02');
    // The held spent token dies with the process; space is back after the restart.
    await h.restart();
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(h.auditTypes()).toContain('door.open-unknown');
    expect(h.store.verifyAuditChain().ok).toBe(true);
  });

  it('starts on a disk still full after a restart, opens nothing until the open the restart found unfinished is written, and never opens that code again', async () => {
    let fullAtStart = false;
    const entry = await pickupAsTheDiskFills((beforePulse) => started({
      beforePulse,
      storeOpened: () => {
        if (fullAtStart) fillDisk();
      },
    }));
    await h.closeDoor('A02');
    fullAtStart = true;
    await h.restart();
    const restartedAt = h.runtime.trustedNow();
    expect(h.runtime.syncPort().health().storage?.writable).toBe(false);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.lastText()).toBe(messages.unavailable.text);
    h.control.injectFault('A04', 'forced-open');
    await h.advance(200);
    expect(h.control.indicator.beeps()).toContain('alarm');
    h.control.clearFault('A04', 'forced-open');
    await h.closeDoor('A04');

    // Space is back before the next tick: the token the unfinished open spent is held.
    freeSpace();
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    await h.advance(10_000);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(true);
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(h.store.unfinishedOpens()).toEqual([]);
    const types = records().map((r) => r.type);
    expect(types).toContain('door.open-unknown');
    expect(types).toContain('device.started');
    expect(types.lastIndexOf('door.open-unknown')).toBeLessThan(types.lastIndexOf('device.storage-recovered'));
    // The compartment went to a technician at the start, not when space came back.
    expectWrittenLate(
      records().filter((r) => r.type === 'technician.task' || r.type === 'door.open-unknown' || (r.type === 'compartment.out-of-service' && r.data.reason === 'needs-check')),
      ['compartment.out-of-service', 'technician.task', 'door.open-unknown'],
      restartedAt,
    );
    expect(h.store.verifyAuditChain().ok).toBe(true);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
  });

  it('starts on a disk still full with a courier deposit cut by the restart, and hands that compartment to a technician once space is back', async () => {
    let fullAtStart = false;
    await started({ storeOpened: () => {
      if (fullAtStart) fillDisk();
    } });
    h.addParcel({ parcelId: 'D1', compartmentId: 'A03', code: '31313131' });
    await h.scan(h.token('courier', { sub: 'courier-1' }).token);
    await h.scan('D1');
    await h.advance(100);
    const used = h.compartments.map((c) => c.id).find((id) => h.control.doorIsOpen(id));
    if (used === undefined) throw new Error('no deposit door opened');
    fullAtStart = true;
    await h.restart();
    const restartedAt = h.runtime.trustedNow();
    expect(h.runtime.syncPort().health().storage?.writable).toBe(false);
    freeSpace();
    await h.advance(10_000);
    expect(h.store.getCompartment(used)).toMatchObject({ status: 'out-of-service', outOfServiceReason: 'needs-check' });
    const task = records().find((r) => r.type === 'technician.task' && r.data.cause === 'deposit-interrupted');
    expect(task?.data).toMatchObject({ compartmentId: used, parcelId: 'D1' });
    expectWrittenLate(records().filter((r) => r.data.compartmentId === used && (r.type === 'technician.task' || r.type === 'compartment.out-of-service')), ['compartment.out-of-service', 'technician.task'], restartedAt);
  });

  it('logs how many deferred records a stop on a still-full disk loses', async () => {
    await started();
    fillDisk();
    h.control.injectFault('A04', 'forced-open');
    await h.advance(200);
    await h.closeDoor('A04');
    await h.stopRuntime();
    expect(logs.find('storage.deferred-lost')[0]).toMatchObject({ level: 50, lostEvents: 2, types: ['door.uncommanded-open', 'door.closed'] });
  });

  it('keeps at most MAX_DEFERRED_AUDITS door records while full and logs the ones it drops (once per window, then counted)', async () => {
    await started();
    fillDisk();
    // Each forced open and close: door.uncommanded-open and door.closed. Spread over the
    // doors and 20 s apart, so no sensor counts as flapping.
    const ids = h.compartments.map((c) => c.id);
    const cycles = MAX_DEFERRED_AUDITS / 2 + 2;
    for (let i = 0; i < cycles; i++) {
      const id = ids[i % ids.length] ?? 'A01';
      h.control.injectFault(id, 'forced-open');
      await h.advance(200);
      h.control.clearFault(id, 'forced-open');
      await h.closeDoor(id);
      await h.advance(19_000);
    }
    const dropped = logs.find('storage.deferred-dropped');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({ level: 50, type: 'door.uncommanded-open', lostEvents: 1 });
    freeSpace();
    await h.advance(10_000);
    const recovered = records().find((r) => r.type === 'device.storage-recovered');
    expect(recovered?.data).toMatchObject({ deferredEvents: MAX_DEFERRED_AUDITS, lostEvents: 4 });
  });

  it('keeps sweeping for expired parcels after a sweep the full disk refused, and flags the parcel once space is back', async () => {
    const sweepMs = 300_000;
    await started({ config: { timeouts: { expiryGraceMs: 600_000 } } });
    const entry = h.addParcel({ parcelId: 'PX1', compartmentId: 'A02', code: '31415926', exp: h.clock.now() + 3_600_000 });
    h.deposit(entry);
    fillDisk();
    // The pickup window ends while the card is full: that sweep's write is refused.
    await h.advance(2 * 3_600_000);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('live');
    expect(logs.find('storage.write-failed')[0]).toMatchObject({ source: 'timer:expiry-sweep', sqliteCode: 'SQLITE_FULL' });

    freeSpace();
    await h.advance(2 * sweepMs);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('expired');
    expect(h.auditTypes()).toContain('pickup.expired');
  });

  it('shows no "unavailable" for a sweep the full disk refuses, however many: no one at the locker asked for anything', async () => {
    await started({ config: { timeouts: { expiryGraceMs: 600_000 } } });
    const expiring = h.addParcel({ parcelId: 'PX1', compartmentId: 'A02', code: '31415926', exp: h.clock.now() + 3_600_000 });
    h.deposit(expiring);
    fillDisk();
    // Past the window and the grace: every sweep from here on tries to flag PX1 and is refused.
    await h.advance(2 * 3_600_000);
    expect(logs.find('storage.write-failed')[0]).toMatchObject({ source: 'timer:expiry-sweep', sqliteCode: 'SQLITE_FULL' });
    // Flashing it would also clear the keypad of whoever is typing a code at that moment,
    // once per sweep for as long as the disk stays full.
    expect(h.texts()).not.toContain(messages.unavailable.text);
    expect(h.runtime.stats().handlerErrors).toBe(0);
  });
});
