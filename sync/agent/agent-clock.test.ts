import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { makeWorld, type SuiteWorld } from '@locker/sync-testing/suite-fixture.js';
import { fastAgentConfig } from '@locker/sync-testing/test-locker.js';

// The agent's own timers run on its injected clock (issue 8): with a FakeClock a test can
// show what happens exactly when an interval ends, and that nothing happens before it,
// without sleeping through the interval. Only the MQTT traffic itself needs real waiting.

const HEALTH_MS = 60_000;

describe('sync agent timers on the injected clock', () => {
  let w: SuiteWorld;
  beforeEach(async () => {
    w = await makeWorld(() => AedesHarness.start());
  });
  afterEach(async () => {
    await w.dispose();
  });

  it('publishes the health report when the interval ends, not before', async () => {
    const clock = new FakeClock({ wallMs: Date.UTC(2026, 11, 4, 12) });
    const locker = w.locker({ clock, config: { ...fastAgentConfig, protocolVersion: 4, healthIntervalMs: HEALTH_MS } });
    // One report on connect.
    await w.backend.waitFor(() => w.backend.health.length === 1, 10_000, 'the health report sent on connect');
    await clock.advanceAsync(HEALTH_MS - 1);
    // Give a report that should not exist every chance to arrive over the real broker.
    await w.backend.waitFor(() => w.backend.health.length > 1, 300, 'an early report').catch(() => undefined);
    expect(w.backend.health).toHaveLength(1);
    await clock.advanceAsync(1);
    await w.backend.waitFor(() => w.backend.health.length === 2, 10_000, 'the report at the end of the interval');
    await clock.advanceAsync(HEALTH_MS);
    await w.backend.waitFor(() => w.backend.health.length === 3, 10_000, 'the next report');
    await locker.close();
  });

  it('uploads audit records on its poll timer: frozen clock, nothing sent; one poll later, sent', async () => {
    const clock = new FakeClock({ wallMs: Date.UTC(2026, 11, 4, 12) });
    const locker = w.locker({ clock, config: { ...fastAgentConfig, protocolVersion: 4, audit: { ...fastAgentConfig.audit, pollMs: 1_000 } } });
    await w.backend.waitFor(() => w.backend.health.length === 1, 10_000, 'connected');
    const stored = (): number => w.backend.ledger(locker.store.lockerId).stored.size;
    const before = stored();
    // Written after the connect-time pump: only the poll timer can send it.
    locker.store.appendAudit('door.uncommanded-open', 'normal', { compartmentId: 'C1' });
    await w.backend.waitFor(() => stored() > before, 300, 'an upload without a poll').catch(() => undefined);
    expect(stored()).toBe(before);
    await clock.advanceAsync(1_000);
    await w.backend.waitFor(() => stored() > before, 10_000, 'the upload on the next poll');
    await locker.close();
  });
});
