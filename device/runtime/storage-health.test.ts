import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import type { DeviceStore } from '../store/device-store.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import { FakeClock, openTestStore, tempDir } from '../store/store-test-fixtures.js';
import { MAX_DEFERRED_AUDITS, StorageHealth, type DeferredWrite } from './storage-health.js';

// The deferred-write queue against a real database file that refuses writes
// (query_only, as a read-only or full card): what it keeps, what it drops and says so.

let store: DeviceStore;
let cleanup: () => void;

afterEach(() => {
  store.close();
  cleanup();
});

function setup(): { health: StorageHealth; clock: FakeClock; logs: ReturnType<typeof captureLogs> } {
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  const clock = new FakeClock();
  store = openTestStore(join(tmp.dir, 'device.db'), clock);
  const logs = captureLogs('info');
  const health = new StorageHealth(logs.logger, () => clock.now(), () => clock.monotonicMs(), 600_000);
  return { health, clock, logs };
}

const uncommanded = (compartmentId: string): DeferredWrite => (s: RuntimeStore, { late }) => {
  s.appendAudit('door.uncommanded-open', 'normal', { compartmentId, ...late });
};

describe('StorageHealth deferred writes', () => {
  it('drops the oldest beyond the bound, logs what it dropped, and writes the rest in order with their time on recovery', () => {
    const { health, clock, logs } = setup();
    store.database.pragma('query_only = ON');
    const firstAt = clock.now();
    for (let i = 0; i <= MAX_DEFERRED_AUDITS; i++) {
      expect(health.writeOrDefer(store, 'test', 'door.uncommanded-open', uncommanded(`C${String(i)}`))).toBe(false);
      clock.advance(1_000);
    }
    expect(logs.find('storage.deferred-dropped')).toHaveLength(1);
    expect(logs.find('storage.deferred-dropped')[0]).toMatchObject({ level: 50, type: 'door.uncommanded-open', occurredAt: firstAt, lostEvents: 1 });

    store.database.pragma('query_only = OFF');
    health.probe(store);
    const rows = store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 1_000 }).filter((r) => r.type === 'door.uncommanded-open');
    expect(rows).toHaveLength(MAX_DEFERRED_AUDITS);
    const data = rows.map((r) => JSON.parse(r.dataJson) as { compartmentId: string; occurredAt: number });
    expect(data[0]).toEqual({ compartmentId: 'C1', occurredAt: firstAt + 1_000 });
    expect(data.at(-1)?.compartmentId).toBe(`C${String(MAX_DEFERRED_AUDITS)}`);
    const recovered = store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 10 }).find((r) => r.type === 'device.storage-recovered');
    expect(JSON.parse(recovered?.dataJson ?? '{}')).toMatchObject({ deferredEvents: MAX_DEFERRED_AUDITS, lostEvents: 1 });
    expect(health.reportUnwritten()).toBe(0);
  });

  it('holds what a deferred write makes true until it is written, and keeps later writes behind it', () => {
    const { health } = setup();
    store.database.pragma('query_only = ON');
    health.writeOrDefer(store, 'test', 'door.uncommanded-open', uncommanded('A1'), { spentTokenId: 't1', occupiedCompartmentId: 'A1' });
    store.database.pragma('query_only = OFF');
    // Space is back, but an earlier record still waits: this one queues behind it.
    expect(health.writeOrDefer(store, 'test', 'door.uncommanded-open', uncommanded('A2'))).toBe(false);
    expect(health.spentPending('t1')).toBe(true);
    expect([...health.occupiedPending()]).toEqual(['A1']);
    health.probe(store);
    expect(health.spentPending('t1')).toBe(false);
    expect([...health.occupiedPending()]).toEqual([]);
    const order = store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 10 }).filter((r) => r.type === 'door.uncommanded-open').map((r) => (JSON.parse(r.dataJson) as { compartmentId: string }).compartmentId);
    expect(order).toEqual(['A1', 'A2']);
  });
});
