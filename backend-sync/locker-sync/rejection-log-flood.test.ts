import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureLogs, type LogCapture } from '@locker/sync-testing/log-capture.js';
import { topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';

// A peer on the broker publishing garbage as fast as it can (a broken locker firmware, a
// misconfigured client): each message is rejected and counted, but the bridge writes a
// bounded number of lines: the first per reason in a minute, then one summary.

const engines = await testEngines('rejection log flood');

describe.each(engines)('a flood of malformed messages at the bridge (%s)', (engine) => {
  let f: BackendFixture;
  let logs: LogCapture;
  beforeEach(async () => {
    logs = captureLogs('info');
    f = await makeBackend({ engine, logger: logs.logger });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
  });
  afterEach(async () => {
    await f.close();
  });

  it('logs the first rejection per reason and one summary, and counts every one', async () => {
    const n = 2_000;
    for (let i = 0; i < n; i++) {
      await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), Buffer.from(`not json ${i}`));
      await f.services.bridge.onMessage(`elsewhere/topic-${i}`, Buffer.from('{}'));
    }
    expect(Object.fromEntries(f.services.bridge.rejections())).toEqual({ 'not-json': n, 'unknown-topic': n });
    expect(logs.find('bridge.message_rejected').map((l) => l['reason'])).toEqual(['not-json', 'unknown-topic']);

    // The sweeper's pass after the minute writes the counts of the rest, once.
    await f.services.bridge.flushRejectionLog();
    expect(logs.find('bridge.message_rejected_summary')).toEqual([]);
    f.clock.advance(60_000);
    await f.services.bridge.flushRejectionLog();
    await f.services.bridge.flushRejectionLog();
    const summaries = logs.find('bridge.message_rejected_summary');
    expect(summaries.map((l) => l['suppressed'])).toEqual([{ 'not-json': n - 1, 'unknown-topic': n - 1 }]);
  });
});
