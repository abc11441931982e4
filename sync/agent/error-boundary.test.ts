import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceError } from '@locker/device/errors.js';
import { makeBatch, makeEntries } from '@locker/device/store/store-test-fixtures.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { makeWorld, type SuiteWorld } from '@locker/sync-testing/suite-fixture.js';
import { TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';

// The agent's own failures never reach the runtime: a device error inside a handler is
// caught, logged, and the agent restarts its session with backoff; the new birth message
// makes the backend re-send what was lost.

describe('sync agent error boundary', () => {
  let w: SuiteWorld;
  beforeEach(async () => {
    w = await makeWorld(() => AedesHarness.start());
  });
  afterEach(async () => {
    await w.dispose();
  });

  it('restarts after a device error in a handler and recovers through the birth message', async () => {
    const locker = w.locker({ start: false });
    const apply = locker.port.applyCodeBatchInSlices.bind(locker.port);
    let failures = 1;
    locker.port.applyCodeBatchInSlices = (batch) => {
      if (failures-- > 0) throw new DeviceError('DB_UNREADABLE', 'disk I/O error (injected)');
      return apply(batch);
    };
    const births: string[] = [];
    const v1 = makeBatch({ lockerId: TEST_LOCKER_ID, upserts: makeEntries(1, 10) });
    // A backend that re-sends the batch whenever a birth says the locker is behind.
    w.backend.onPresence = (_id, p) => {
      if (p.status !== 'online') return;
      births.push(p.bootId);
      if (p.codeSet.version < 1) w.backend.publishBatch(v1);
    };
    locker.agent.start();
    await w.backend.waitFor(() => w.backend.codeAcks.some((a) => a.outcome === 'applied'), 10_000, 'applied after restart');
    expect(locker.agent.status().restarts).toBe(1);
    expect(births.length).toBeGreaterThanOrEqual(2);
    expect(w.logs.find('sync-agent.failed')).toHaveLength(1);
    expect(locker.store.codeSetState().version).toBe(1);
    // The "runtime" side of the port kept working throughout.
    expect(() => locker.store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: 1200, commanded: false })).not.toThrow();
  });

  it('refuses an invalid config at start instead of running half-configured', () => {
    const locker = w.locker({ start: false, config: { keepaliveSeconds: -1 } });
    expect(() => locker.agent.start()).toThrow(/config is invalid/);
  });
});

describe('a session restart while a remote open runs', () => {
  let w: SuiteWorld;
  beforeEach(async () => {
    w = await makeWorld(() => AedesHarness.start());
  });
  afterEach(async () => {
    await w.dispose();
  });

  it('answers the open with its real outcome, never "unknown", and restarts only once', async () => {
    const locker = w.locker({ start: false, remote: { delayMs: 1500 } });
    const apply = locker.port.applyCodeBatchInSlices.bind(locker.port);
    let failures = 1;
    locker.port.applyCodeBatchInSlices = (batch) => {
      if (failures-- > 0) throw new DeviceError('DB_UNREADABLE', 'disk I/O error (injected)');
      return apply(batch);
    };
    locker.agent.start();
    await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 5000, 'birth');
    w.backend.publishCommand(TEST_LOCKER_ID, 'txn-restart-01', { kind: 'remote-open', compartmentId: 'C1', reason: 'support' });
    await w.backend.waitFor(() => locker.port.remote.calls.length === 1, 5000, 'the open started');
    // An unrelated handler fails while the door is still being opened: the session restarts.
    w.backend.publishBatch(makeBatch({ lockerId: TEST_LOCKER_ID, upserts: makeEntries(1, 3) }));
    await w.backend.waitFor(() => locker.agent.status().restarts === 1, 5000, 'session restart');
    await w.backend.waitFor(() => locker.store.findCommandReply('txn-restart-01')?.replyJson !== undefined && locker.store.unfinishedOpens().length === 0, 5000, 'open finished');
    await new Promise((r) => setTimeout(r, 300));
    const stored = JSON.parse(locker.store.findCommandReply('txn-restart-01')?.replyJson ?? '{}') as Record<string, unknown>;
    expect(stored).toMatchObject({ status: 'ok', result: { kind: 'remote-open', outcome: 'opened' } });
    const audited = locker.store.database.prepare<[], { type: string }>(`SELECT type FROM audit_log WHERE type = 'sync.command-unknown'`).all();
    expect(audited).toEqual([]);
    expect(locker.agent.status().restarts).toBe(1);
    await w.backend.waitFor(() => w.backend.replies.some((r) => r.transactionId === 'txn-restart-01'), 5000, 'reply published');
    expect(w.backend.replies.filter((r) => r.transactionId === 'txn-restart-01').map((r) => r.status)).toEqual(['ok']);
  });
});
