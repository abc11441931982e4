import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDeviceError } from '../errors.js';
import type { DeviceStore } from './device-store.js';
import { FakeClock, makeBatch, makeEntries, makeEntry, openTestStore, tempDir } from './store-test-fixtures.js';

describe('DeviceStore', () => {
  let dir: string;
  let path: string;
  let cleanup: () => void;
  let clock: FakeClock;
  let store: DeviceStore;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    path = join(dir, 'store.db');
    clock = new FakeClock();
    store = openTestStore(path, clock);
  });
  afterEach(() => {
    store.close();
    cleanup();
  });
  const reopen = (): void => {
    store.close();
    store = openTestStore(path, clock);
  };

  describe('compartments', () => {
    it('creates the layout as free compartments and keeps their state across restarts', () => {
      store.syncCompartmentLayout([{ id: 'A1', size: 'S' }, { id: 'A2', size: 'L' }]);
      store.setCompartmentStatus('A1', 'occupied', { parcelId: 'P1' });
      reopen();
      store.syncCompartmentLayout([{ id: 'A1', size: 'S' }, { id: 'A2', size: 'L' }]);
      expect(store.listCompartments()).toEqual([
        { id: 'A1', size: 'S', status: 'occupied', failureCount: 0, parcelId: 'P1' },
        { id: 'A2', size: 'L', status: 'free', failureCount: 0 },
      ]);
    });

    it('drops an empty compartment that left the layout but keeps an occupied one out of service', () => {
      store.syncCompartmentLayout([{ id: 'A1', size: 'S' }, { id: 'A2', size: 'M' }, { id: 'A3', size: 'M' }]);
      store.setCompartmentStatus('A2', 'occupied', { parcelId: 'P2' });
      store.syncCompartmentLayout([{ id: 'A1', size: 'S' }]);
      expect(store.getCompartment('A3')).toBeUndefined();
      expect(store.getCompartment('A2')).toMatchObject({ status: 'out-of-service', parcelId: 'P2', outOfServiceReason: 'not-in-layout' });
      store.syncCompartmentLayout([{ id: 'A1', size: 'S' }, { id: 'A2', size: 'M' }]);
      expect(store.getCompartment('A2')).toEqual({ id: 'A2', size: 'M', status: 'occupied', failureCount: 0, parcelId: 'P2' });
    });

    it('counts consecutive failures and resets them', () => {
      store.syncCompartmentLayout([{ id: 'A1', size: 'S' }]);
      expect(store.recordCompartmentFailure('A1')).toBe(1);
      expect(store.recordCompartmentFailure('A1')).toBe(2);
      store.resetCompartmentFailures('A1');
      expect(store.getCompartment('A1')?.failureCount).toBe(0);
    });

    it('clears the parcel when a compartment becomes free and records an out-of-service reason', () => {
      store.syncCompartmentLayout([{ id: 'A1', size: 'S' }]);
      store.setCompartmentStatus('A1', 'occupied', { parcelId: 'P1' });
      store.setCompartmentStatus('A1', 'out-of-service', { reason: 'jammed' });
      expect(store.getCompartment('A1')).toMatchObject({ status: 'out-of-service', parcelId: 'P1', outOfServiceReason: 'jammed' });
      store.setCompartmentStatus('A1', 'free');
      expect(store.getCompartment('A1')).toEqual({ id: 'A1', size: 'S', status: 'free', failureCount: 0 });
    });

    it('throws STORE_NOT_FOUND for an unknown compartment', () => {
      expect(() => store.setCompartmentStatus('ZZ', 'free')).toThrow(expect.objectContaining({ code: 'STORE_NOT_FOUND' }) as Error);
      expect(() => store.recordCompartmentFailure('ZZ')).toThrow();
    });
  });

  describe('code entries', () => {
    it('finds entries by code digest, token id, parcel and compartment', () => {
      const [a, b] = makeEntries(0, 2);
      store.applyCodeBatch(makeBatch({ upserts: [a!, b!] }));
      store.markDeposited(a!.tokenId, 'C9', 50);
      expect(store.findEntryByCodeDigest(a!.codeDigest!)).toMatchObject({ tokenId: a!.tokenId, state: 'live', currentCompartmentId: 'C9', depositedAt: 50 });
      expect(store.findEntryByTokenId(b!.tokenId)?.parcelId).toBe(b!.parcelId);
      expect(store.findEntriesByParcel(a!.parcelId).map((e) => e.tokenId)).toEqual([a!.tokenId]);
      expect(store.findEntriesInCompartment('C9').map((e) => e.tokenId)).toEqual([a!.tokenId]);
      expect(store.findEntriesInCompartment(b!.compartmentId)).toEqual([]);
      expect(store.liveCodeCount()).toBe(1);
    });

    it('counts as keypad codes exactly the entries a code can match: live or awaiting deposit, with a code', () => {
      const [live, awaiting, collected] = makeEntries(0, 3);
      const { codeDigest: _unused, ...qrOnly } = makeEntry(3);
      store.applyCodeBatch(makeBatch({ upserts: [live!, awaiting!, collected!, qrOnly] }));
      for (const e of [live!, collected!, qrOnly]) store.markDeposited(e.tokenId, e.compartmentId, 10);
      store.markCollected(collected!.tokenId, 20);
      expect(store.keypadCodeCounts()).toEqual({ live: 1, awaitingDeposit: 1 });
      expect(store.findEntryByCodeDigest(awaiting!.codeDigest!)?.state).toBe('awaiting-deposit');
      expect(store.liveCodeCount()).toBe(2);
    });

    it('counts keypad codes up to a limit, the same rows as keypadCodeCounts and never past the limit', () => {
      const [live, awaiting, collected, spare] = makeEntries(0, 4);
      const { codeDigest: _unused, ...qrOnly } = makeEntry(4);
      store.applyCodeBatch(makeBatch({ upserts: [live!, awaiting!, collected!, spare!, qrOnly] }));
      for (const e of [live!, collected!, qrOnly]) store.markDeposited(e.tokenId, e.compartmentId, 10);
      store.markCollected(collected!.tokenId, 20);
      expect(store.keypadCodeCounts()).toEqual({ live: 1, awaitingDeposit: 2 });
      expect(store.keypadCodeCountUpTo(10)).toBe(3);
      expect(store.keypadCodeCountUpTo(3)).toBe(3);
      expect(store.keypadCodeCountUpTo(2)).toBe(2);
      expect(store.keypadCodeCountUpTo(0)).toBe(0);
    });

    it('lists the compartments promised to parcels not inside yet: awaiting deposits and live return drop-offs, except the asking entry', () => {
      const awaiting = makeEntry(1, { compartmentId: 'C1' });
      const deposited = makeEntry(2, { compartmentId: 'C2' });
      const dropoff = makeEntry(3, { compartmentId: 'C3', kind: 'return-dropoff' });
      const asking = makeEntry(4, { compartmentId: 'C4' });
      store.applyCodeBatch(makeBatch({ upserts: [awaiting, deposited, dropoff, asking] }));
      store.markDeposited(deposited.tokenId, 'C2', 10);
      store.markDeposited(dropoff.tokenId, 'C3', 10);
      expect([...store.reservedCompartments(asking.tokenId)].sort()).toEqual(['C1', 'C3']);
    });

    it('walks an entry through deposit, expiry and retrieval', () => {
      const e = makeEntry(1);
      store.applyCodeBatch(makeBatch({ upserts: [e] }));
      store.markDeposited(e.tokenId, 'C1', 10);
      store.markExpired(e.tokenId, 20);
      expect(store.findEntryByTokenId(e.tokenId)).toMatchObject({ state: 'expired', closedAt: 20 });
      store.markRetrieved(e.tokenId, 30);
      expect(store.findEntryByTokenId(e.tokenId)).toMatchObject({ state: 'retrieved', closedAt: 30 });
    });

    it('treats a repeated collect as a no-op and a collect of an undeposited entry as a conflict', () => {
      const [a, b] = makeEntries(0, 2);
      store.applyCodeBatch(makeBatch({ upserts: [a!, b!] }));
      store.markDeposited(a!.tokenId, 'C1', 10);
      store.markCollected(a!.tokenId, 20);
      store.markCollected(a!.tokenId, 25);
      expect(store.findEntryByTokenId(a!.tokenId)?.closedAt).toBe(20);
      const err = (() => { try { store.markCollected(b!.tokenId, 30); } catch (e) { return e; } return undefined; })();
      expect(isDeviceError(err, 'STORE_STATE_CONFLICT')).toBe(true);
      expect(() => store.markDeposited('no-such-token-id-123', 'C1', 1)).toThrow(expect.objectContaining({ code: 'STORE_NOT_FOUND' }) as Error);
    });
  });

  describe('replay set and revocations', () => {
    it('remembers used tokens across a restart', () => {
      const id = makeEntry(1).tokenId;
      expect(store.isTokenUsed(id)).toBe(false);
      store.markTokenUsed(id, 'pickup', 100);
      store.markTokenUsed(id, 'pickup', 200);
      reopen();
      expect(store.isTokenUsed(id)).toBe(true);
      expect(store.isTokenUsed(makeEntry(2).tokenId)).toBe(false);
    });

    it('remembers revoked tokens across a restart', () => {
      store.applyCodeBatch(makeBatch({ revocations: [{ tokenId: makeEntry(1).tokenId, reason: 'compromised' }] }));
      reopen();
      expect(store.isTokenRevoked(makeEntry(1).tokenId)).toBe(true);
    });
  });

  describe('clock floor', () => {
    it('only ever rises and survives a restart', () => {
      expect(store.clockFloor()).toBe(0);
      expect(store.raiseClockFloor(1000)).toBe(true);
      expect(store.raiseClockFloor(500)).toBe(false);
      expect(store.raiseClockFloor(1000)).toBe(false);
      reopen();
      expect(store.clockFloor()).toBe(1000);
      expect(store.raiseClockFloor(999)).toBe(false);
      expect(store.raiseClockFloor(2000)).toBe(true);
      expect(store.clockFloor()).toBe(2000);
    });

    it('refuses a floor that is not integer epoch ms', () => {
      expect(() => store.raiseClockFloor(Number.NaN)).toThrow();
      expect(() => store.raiseClockFloor(1.5)).toThrow();
    });
  });

  describe('state blobs', () => {
    it('saves, replaces and reloads JSON state', () => {
      expect(store.loadState('rate-limiter')).toBeUndefined();
      store.saveState('rate-limiter', '{"failures":1}');
      store.saveState('rate-limiter', '{"failures":2}');
      reopen();
      expect(store.loadState('rate-limiter')).toBe('{"failures":2}');
    });

    it('refuses text that is not JSON', () => {
      expect(() => store.saveState('x', '{oops')).toThrow(expect.objectContaining({ code: 'INTERNAL' }) as Error);
    });
  });

  describe('open journal', () => {
    it('reports opens begun and never finished after a restart', () => {
      store.beginOpen({ opId: 'op1', compartmentId: 'A1', reason: 'pickup', tokenId: 't1', startedAt: 10 });
      store.beginOpen({ opId: 'op2', compartmentId: 'A2', reason: 'remote', transactionId: 'tx', startedAt: 11 });
      store.finishOpen('op1', 'opened', 12);
      reopen();
      expect(store.unfinishedOpens()).toEqual([{ opId: 'op2', compartmentId: 'A2', reason: 'remote', transactionId: 'tx', startedAt: 11 }]);
    });

    it('refuses a duplicate op id and an unknown one', () => {
      store.beginOpen({ opId: 'op1', compartmentId: 'A1', reason: 'service', startedAt: 10 });
      expect(() => store.beginOpen({ opId: 'op1', compartmentId: 'A1', reason: 'service', startedAt: 10 })).toThrow(
        expect.objectContaining({ code: 'STORE_STATE_CONFLICT' }) as Error,
      );
      expect(() => store.finishOpen('nope', 'opened', 1)).toThrow(expect.objectContaining({ code: 'STORE_NOT_FOUND' }) as Error);
    });
  });

  describe('command log', () => {
    it('stores a reply once and reports commands cut short', () => {
      store.beginCommand('tx1', 'remote-open', 5000);
      store.beginCommand('tx2', 'remote-open', 5000);
      expect(store.findCommandReply('tx1')).toEqual({ transactionId: 'tx1', kind: 'remote-open', replyJson: undefined, startedAt: clock.now() });
      store.completeCommand('tx1', '{"outcome":"opened"}');
      store.completeCommand('tx1', '{"outcome":"opened"}');
      expect(() => store.completeCommand('tx1', '{"outcome":"jammed"}')).toThrow();
      expect(() => store.beginCommand('tx1', 'remote-open', 5000)).toThrow(expect.objectContaining({ code: 'STORE_STATE_CONFLICT' }) as Error);
      reopen();
      expect(store.findCommandReply('tx1')?.replyJson).toBe('{"outcome":"opened"}');
      expect(store.unfinishedCommands()).toEqual([{ transactionId: 'tx2', kind: 'remote-open', startedAt: clock.now() }]);
      expect(store.findCommandReply('tx3')).toBeUndefined();
    });
  });

  describe('checkpoint', () => {
    it('truncates the WAL after a large batch', () => {
      store.applyCodeBatch(makeBatch({ upserts: makeEntries(0, 3_000) }));
      store.checkpoint();
      expect(statSync(`${path}-wal`).size).toBe(0);
      reopen();
      expect(store.findEntryByTokenId(makeEntry(2_999).tokenId)).toBeDefined();
    });
  });

  describe('transaction', () => {
    it('rolls back every change of a failed transaction, and nested ones as savepoints', () => {
      store.syncCompartmentLayout([{ id: 'A1', size: 'S' }]);
      expect(() =>
        store.transaction(() => {
          store.setCompartmentStatus('A1', 'occupied', { parcelId: 'P' });
          store.appendAudit('door.uncommanded-open', 'normal', { compartmentId: 'A1' });
          throw new Error('boom');
        }),
      ).toThrow('boom');
      expect(store.getCompartment('A1')?.status).toBe('free');
      expect(store.auditHighWatermark()).toBe(0);

      store.transaction(() => {
        store.markTokenUsed(makeEntry(1).tokenId, 'pickup', 1);
        try {
          store.transaction(() => {
            store.markTokenUsed(makeEntry(2).tokenId, 'pickup', 1);
            throw new Error('inner');
          });
        } catch {
          // the inner savepoint rolled back; the outer transaction goes on
        }
      });
      expect(store.isTokenUsed(makeEntry(1).tokenId)).toBe(true);
      expect(store.isTokenUsed(makeEntry(2).tokenId)).toBe(false);
      expect(store.verifyAuditChain().ok).toBe(true);
    });
  });
});
