import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs, type LogCapture } from '@locker/sync-testing/log-capture.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import { messages } from '../core/display-messages.js';
import { Harness, LOCKER, PEPPER } from './harness.js';

// The SD card is full: every write that needs a new page fails with SQLITE_FULL while
// reads work. Simulated on the runtime's own connection (store.database) with
// `PRAGMA max_page_count`: free pages are given back first, the limit is set to the file's
// size, then the audit table's last page is filled, so every audited transaction (every
// open, deposit and door event) is refused as on a full disk. Raising the limit is
// "space freed".

let h: Harness;
let logs: LogCapture;
const NO_LIMIT = 1_073_741_823;

afterEach(async () => {
  h.store.database.pragma(`max_page_count = ${NO_LIMIT}`);
  await h.close();
});

async function started(): Promise<void> {
  logs = captureLogs('info');
  h = new Harness({ logger: logs.logger });
  await h.start();
}

function fillDisk(): void {
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

function freeSpace(): void {
  h.store.database.pragma(`max_page_count = ${NO_LIMIT}`);
}

const storageLines = (): number => logs.lines.filter((l) => l.msg.startsWith('storage.')).length;

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
});
