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
