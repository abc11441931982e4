import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEventData } from '@locker/contract/audit-events/index.js';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { isDeviceError } from '../errors.js';
import type { DeviceStore } from '../store/device-store.js';
import { FakeClock, openTestStore, tempDir } from '../store/store-test-fixtures.js';
import { GENESIS_PREV_HASH } from '@locker/contract/audit/audit-hash.js';

const DAY = 86_400_000;

describe('audit log', () => {
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
  const append = (n: number, lane: 'normal' | 'priority' = 'normal'): void => {
    for (let i = 0; i < n; i++) {
      store.appendAudit('door.closed', lane, { compartmentId: 'A1', openMs: i, commanded: true });
      clock.advance(1000);
    }
  };

  it('appends sequence-numbered records chained from 64 zeros, stamped with the injected clock', () => {
    const first = store.appendAudit('door.uncommanded-open', 'priority', { compartmentId: 'A1' });
    clock.advance(5);
    const second = store.appendAudit('door.closed', 'normal', { compartmentId: 'A1', openMs: 5, commanded: false });
    expect(first).toMatchObject({ seq: 1, at: clock.now() - 5, prevHash: GENESIS_PREV_HASH, dataJson: '{"compartmentId":"A1"}' });
    expect(second).toMatchObject({ seq: 2, at: clock.now(), prevHash: first.hash });
    expect(store.verifyAuditChain()).toEqual({ ok: true, records: 2, firstSeq: 1, lastSeq: 2 });
    expect(store.auditHighWatermark()).toBe(2);
  });

  it('refuses data with a key named code, token or pin, at any depth', () => {
    for (const data of [{ code: '1234' }, { nested: { Token: 'v4.public.x' } }, { list: [{ pin: '0000' }] }]) {
      let err: unknown;
      try {
        store.appendUncheckedAudit('bad', 'normal', data);
      } catch (e) {
        err = e;
      }
      expect(isDeviceError(err, 'INTERNAL')).toBe(true);
      expect(JSON.stringify((err as { details?: unknown }).details)).not.toMatch(/1234|v4\.public|0000/);
    }
    expect(store.auditHighWatermark()).toBe(0);
    expect(store.appendUncheckedAudit('ok', 'normal', { tokenId: 'abc', codeDigestPrefix: 'ab' }).seq).toBe(1);
  });

  it('redacts instead of throwing when configured for production', () => {
    store.close();
    store = openTestStore(path, clock, { auditSecretKeys: 'redact' });
    const record = store.appendUncheckedAudit('bad', 'normal', { code: '1234', compartmentId: 'A1' });
    expect(record.dataJson).toBe('{"code":"[redacted]","compartmentId":"A1"}');
  });

  it('refuses data its event type\'s contract schema does not allow, and writes nothing', () => {
    // The shape of the old return.retrieved mismatch: a field the contract does not name
    // instead of the one it requires. The cast stands for a spread or a loosely typed caller.
    const wrong = { compartmentId: 'A1', courierTokenId: 'tok_c', parcels: ['P1'], entries: [] } as unknown as AuditEventData<'return.retrieved'>;
    let err: unknown;
    try {
      store.appendAudit('return.retrieved', 'normal', wrong);
    } catch (e) {
      err = e;
    }
    expect(isDeviceError(err, 'INTERNAL')).toBe(true);
    expect(String((err as Error).message)).toContain('parcelId');
    expect(store.auditHighWatermark()).toBe(0);
  });

  it('in production records data its schema refuses anyway, and logs it, so no audit record is lost', () => {
    store.close();
    const logs = captureLogs('info');
    store = openTestStore(path, clock, { auditInvalidEvents: 'record', logger: logs.logger });
    const wrong = { compartmentId: 'A1' } as unknown as AuditEventData<'door.closed'>;
    const record = store.appendAudit('door.closed', 'normal', wrong);
    expect(record.dataJson).toBe('{"compartmentId":"A1"}');
    const logged = logs.find('audit.invalid_event');
    expect(logged.map((l) => l['type'])).toEqual(['door.closed']);
    expect(String(logged[0]?.['detail'])).toContain('openMs');
    expect(store.verifyAuditChain()).toMatchObject({ ok: true, records: 1 });
  });

  it('reads unacknowledged records per lane after a seq, in order', () => {
    append(2, 'normal');
    append(2, 'priority');
    append(2, 'normal');
    expect(store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 10 }).map((r) => r.seq)).toEqual([1, 2, 5, 6]);
    expect(store.readUnackedAudit({ lane: 'normal', afterSeq: 2, limit: 1 }).map((r) => r.seq)).toEqual([5]);
    expect(store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 10 }).map((r) => r.seq)).toEqual([3, 4]);
  });

  it('acknowledges contiguously and by single seqs, and the watermark closes holes', () => {
    append(6);
    store.acknowledgeAudit({ contiguousSeq: 2, alsoSeqs: [4, 5] });
    expect(store.auditAckedWatermark()).toBe(2);
    expect(store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 10 }).map((r) => r.seq)).toEqual([3, 6]);
    store.acknowledgeAudit({ contiguousSeq: 1, alsoSeqs: [3] });
    expect(store.auditAckedWatermark()).toBe(5);
    store.acknowledgeAudit({ contiguousSeq: 99, alsoSeqs: [] });
    expect(store.auditAckedWatermark()).toBe(6);
  });

  it('prunes only an acknowledged, old, contiguous prefix and stays verifiable', () => {
    append(6);
    clock.advance(10 * DAY);
    append(2);
    store.acknowledgeAudit({ contiguousSeq: 4, alsoSeqs: [6, 7] });
    expect(store.pruneAcknowledgedAudit(7 * DAY)).toBe(4);
    expect(store.verifyAuditChain()).toEqual({ ok: true, records: 4, firstSeq: 5, lastSeq: 8 });
    expect(store.pruneAcknowledgedAudit(7 * DAY)).toBe(0);
    store.acknowledgeAudit({ contiguousSeq: 8, alsoSeqs: [] });
    clock.advance(10 * DAY);
    expect(store.pruneAcknowledgedAudit(7 * DAY)).toBe(4);
    expect(store.auditHighWatermark()).toBe(8);
    const next = store.appendAudit('device.stopped', 'normal', {});
    expect(next.seq).toBe(9);
    expect(store.verifyAuditChain()).toEqual({ ok: true, records: 1, firstSeq: 9, lastSeq: 9 });
  });

  it('prunes acknowledged old records past one stamped while the clock was a year ahead, and stays verifiable', () => {
    append(2);
    // A provisional clock a year ahead, corrected down by the first signed time.
    clock.jumpWall(365 * DAY);
    append(1);
    clock.jumpWall(-365 * DAY);
    append(3);
    store.acknowledgeAudit({ contiguousSeq: 6, alsoSeqs: [] });
    clock.advance(10 * DAY);
    append(2);
    store.acknowledgeAudit({ contiguousSeq: 7, alsoSeqs: [] });

    // Seq 3 reads as a year ahead, but seqs 4-6 were written after it and are old: 1-6 go.
    expect(store.pruneAcknowledgedAudit(7 * DAY)).toBe(6);
    expect(store.verifyAuditChain()).toEqual({ ok: true, records: 2, firstSeq: 7, lastSeq: 8 });
    // The young acknowledged record 7 and the unacknowledged 8 stay until they are old.
    expect(store.pruneAcknowledgedAudit(7 * DAY)).toBe(0);
  });

  describe('verifyAuditChain on the stored log', () => {
    beforeEach(() => append(5));

    it('detects a modified row', () => {
      store.database.prepare(`UPDATE audit_log SET data_json = '{"i":42}' WHERE seq = 3`).run();
      expect(store.verifyAuditChain()).toEqual({ ok: false, brokenAtSeq: 3, reason: 'hash-mismatch' });
    });

    it('detects a deleted row', () => {
      store.database.prepare('DELETE FROM audit_log WHERE seq = 2').run();
      expect(store.verifyAuditChain()).toEqual({ ok: false, brokenAtSeq: 3, reason: 'sequence-gap' });
    });

    it('detects a deleted first row', () => {
      store.database.prepare('DELETE FROM audit_log WHERE seq = 1').run();
      expect(store.verifyAuditChain()).toMatchObject({ ok: false, brokenAtSeq: 2 });
    });

    it('detects reordered rows', () => {
      store.database.exec(`
        UPDATE audit_log SET seq = -2 WHERE seq = 2;
        UPDATE audit_log SET seq = 2 WHERE seq = 4;
        UPDATE audit_log SET seq = 4 WHERE seq = -2;`);
      expect(store.verifyAuditChain()).toMatchObject({ ok: false, brokenAtSeq: 2 });
    });

    it('survives a reopen intact', () => {
      store.close();
      store = openTestStore(path, clock);
      expect(store.verifyAuditChain()).toEqual({ ok: true, records: 5, firstSeq: 1, lastSeq: 5 });
    });
  });
});
