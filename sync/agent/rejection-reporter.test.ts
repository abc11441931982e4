import { describe, expect, it } from 'vitest';
import type { AuditLane, AuditRecord } from './device-sync-port.js';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { RejectionReporter } from './rejection-reporter.js';

function fakeAudit() {
  const records: Array<{ type: string; lane: AuditLane; data: Record<string, unknown> }> = [];
  return {
    records,
    appendAudit(type: string, lane: AuditLane, data: Record<string, unknown>): AuditRecord {
      records.push({ type, lane, data });
      return { seq: records.length, at: 0, type, lane, dataJson: JSON.stringify(data), prevHash: '0'.repeat(64), hash: '0'.repeat(64) };
    },
  };
}

describe('RejectionReporter', () => {
  it('logs every rejection but audits security-relevant ones within the per-minute limit', () => {
    const audit = fakeAudit();
    const logs = captureLogs();
    let now = 0;
    const reporter = new RejectionReporter(audit, logs.logger, 3, () => now);
    for (let i = 0; i < 10; i++) reporter.report({ topic: 't', reason: 'signature-invalid', securityRelevant: true });
    reporter.report({ topic: 't', reason: 'not-json', securityRelevant: false });
    expect(logs.find('message.rejected')).toHaveLength(11);
    expect(audit.records).toHaveLength(3);
    // The next minute's first record carries the number suppressed before it.
    now = 60_000;
    reporter.report({ topic: 't', reason: 'key-unknown', securityRelevant: true, messageId: 'm-12345678' });
    expect(audit.records[3]).toEqual({
      type: 'sync.message-rejected', lane: 'priority', data: { topic: 't', reason: 'key-unknown', messageId: 'm-12345678', suppressedBefore: 7 },
    });
    expect(reporter.counts()).toEqual({ 'signature-invalid': 10, 'not-json': 1, 'key-unknown': 1 });
  });

  it('reports a newer protocol version to the backend although it is not an attack', () => {
    const audit = fakeAudit();
    const reporter = new RejectionReporter(audit, captureLogs().logger, 10);
    reporter.report({ topic: 't', reason: 'unsupported-version', detail: 'v2', securityRelevant: false });
    expect(audit.records.map((r) => r.data['reason'])).toEqual(['unsupported-version']);
  });
});
