import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceStore } from '@locker/device/store/device-store.js';
import { FakeClock, openTestStore, tempDir } from '@locker/device/store/store-test-fixtures.js';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { RejectionReporter } from './rejection-reporter.js';

// Against the real device store: the suppressed count lives in the SQLite file.

function rejectionRecords(store: DeviceStore): Array<Record<string, unknown>> {
  return store
    .readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 })
    .filter((r) => r.type === 'sync.message-rejected')
    .map((r) => JSON.parse(r.dataJson) as Record<string, unknown>);
}

describe('RejectionReporter', () => {
  let dir: string;
  let cleanup: () => void;
  let path: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('rejections-'));
    path = join(dir, 'device.sqlite');
  });
  afterEach(() => cleanup());

  it('logs the first rejection per topic and reason in a minute and summarises the rest, counting every one', () => {
    const store = openTestStore(path);
    const logs = captureLogs();
    let now = 0;
    const reporter = new RejectionReporter(store, logs.logger, 3, () => now);
    // A peer publishing garbage as fast as the broker allows.
    for (let i = 0; i < 10_000; i++) {
      now = i;
      reporter.report({ topic: 'locker/x/cmd', reason: i % 2 === 0 ? 'not-json' : 'schema', securityRelevant: false });
      reporter.report({ topic: `locker/x/junk-${i}`, reason: 'unexpected-topic', securityRelevant: false });
    }
    expect(logs.find('message.rejected').map((l) => l['reason'])).toEqual(['not-json', 'unexpected-topic', 'schema']);
    expect(reporter.count).toBe(20_000);
    expect(reporter.counts()).toEqual({ 'not-json': 5_000, schema: 5_000, 'unexpected-topic': 10_000 });
    // The flood stops; the agent's tick writes the summary once the minute is over.
    reporter.flushLog();
    expect(logs.find('message.rejected-summary')).toEqual([]);
    now = 60_000;
    reporter.flushLog();
    reporter.flushLog();
    const summaries = logs.find('message.rejected-summary');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]?.['suppressed']).toEqual({ 'locker/x/cmd not-json': 4_999, 'locker/x/cmd schema': 4_999, 'unexpected-topic': 9_999 });
    store.close();
  });

  it('still logs a tampering rejection that comes after a flood of every garbage key a peer can produce', () => {
    const store = openTestStore(path);
    const logs = captureLogs();
    let now = 0;
    const reporter = new RejectionReporter(store, logs.logger, 3, () => now);
    // Without a backend key a peer still reaches more (topic, reason) keys than the throttle
    // keeps: every decode failure and every unsigned seal failure on each subscribed topic.
    const topics = ['lockers/x/codes/batch', 'lockers/x/audit/ack', 'lockers/x/cmd'];
    const garbage = ['oversized', 'not-utf8', 'not-json', 'no-header', 'unsupported-version', 'wrong-type', 'schema'];
    const forged = ['seal-malformed', 'key-unknown', 'key-revoked', 'signature-invalid'];
    for (let round = 0; round < 3; round++) {
      for (const topic of topics) {
        for (const reason of garbage) reporter.report({ topic, reason, securityRelevant: false });
        for (const reason of forged) reporter.report({ topic, reason, securityRelevant: true });
      }
      reporter.report({ topic: `lockers/x/junk-${round}`, reason: 'unexpected-topic', securityRelevant: false });
    }
    // Then a real manifest replayed beside an altered batch.
    now = 1_000;
    reporter.report({ topic: 'lockers/x/codes/batch', reason: 'manifest-mismatch', detail: 'content hash', securityRelevant: true });
    expect(logs.find('message.rejected').filter((l) => l['reason'] === 'manifest-mismatch')).toHaveLength(1);
    reporter.report({ topic: 'lockers/x/codes/batch', reason: 'manifest-mismatch', securityRelevant: true });
    now = 60_000;
    reporter.flushLog();
    expect(logs.find('message.rejected-summary')[0]?.['suppressed']).toMatchObject({ 'lockers/x/codes/batch manifest-mismatch': 1 });
    store.close();
  });

  it('audits security-relevant rejections within the per-minute limit', () => {
    const store = openTestStore(path);
    const logs = captureLogs();
    let now = 0;
    const reporter = new RejectionReporter(store, logs.logger, 3, () => now);
    for (let i = 0; i < 10; i++) reporter.report({ topic: 't', reason: 'signature-invalid', securityRelevant: true });
    reporter.report({ topic: 't', reason: 'not-json', securityRelevant: false });
    expect(logs.find('message.rejected')).toHaveLength(2);
    expect(rejectionRecords(store)).toHaveLength(3);
    // The next minute's first record carries the number suppressed before it.
    now = 60_000;
    reporter.report({ topic: 't', reason: 'key-unknown', securityRelevant: true, messageId: 'm-12345678' });
    expect(rejectionRecords(store)[3]).toEqual({ topic: 't', reason: 'key-unknown', messageId: 'm-12345678', suppressedBefore: 7 });
    expect(reporter.counts()).toEqual({ 'signature-invalid': 10, 'not-json': 1, 'key-unknown': 1 });
    store.close();
  });

  it('keeps the count of suppressed rejections across a restart and reports it with the next audited one', () => {
    const clock = new FakeClock();
    const first = openTestStore(path, clock);
    const before = new RejectionReporter(first, captureLogs().logger, 2, () => 0);
    for (let i = 0; i < 7; i++) before.report({ topic: 't', reason: 'signature-invalid', securityRelevant: true });
    first.close();

    // A new process: new reporter, new window, same file.
    const second = openTestStore(path, clock);
    const after = new RejectionReporter(second, captureLogs().logger, 2, () => 0);
    after.report({ topic: 't', reason: 'key-unknown', securityRelevant: true });
    after.report({ topic: 't', reason: 'key-unknown', securityRelevant: true });
    const records = rejectionRecords(second);
    expect(records).toHaveLength(4);
    expect(records[2]).toEqual({ topic: 't', reason: 'key-unknown', suppressedBefore: 5 });
    // Reported once: the count was reset in the same transaction.
    expect(records[3]).toEqual({ topic: 't', reason: 'key-unknown' });
    second.close();
  });

  it('reports a newer protocol version to the backend although it is not an attack', () => {
    const store = openTestStore(path);
    const reporter = new RejectionReporter(store, captureLogs().logger, 10);
    reporter.report({ topic: 't', reason: 'unsupported-version', detail: 'v2', securityRelevant: false });
    expect(rejectionRecords(store).map((r) => r['reason'])).toEqual(['unsupported-version']);
    store.close();
  });
});
