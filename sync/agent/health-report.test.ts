import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness, LOCKER } from '@locker/device/e2e/harness.js';
import { BackendSigner } from '@locker/contract/backend-signer.js';
import { topicFor } from '@locker/contract/topics.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { TestBackend } from '@locker/sync-testing/test-backend.js';
import { startHarnessAgent } from '@locker/sync-testing/harness-agent.js';
import type { SyncAgent } from './sync-agent.js';

// Issue 8: the health report carries upward what the backend's metrics show per locker -
// the code-set version held, codes awaiting deposit, the messages the locker rejected by
// reason, lockouts and door failures. Real runtime (simulated hardware, real SQLite), real
// agent, aedes broker; the figures are read from the health message the backend received.

describe('the health report', () => {
  let h: Harness;
  let broker: AedesHarness;
  let backend: TestBackend;
  let agent: SyncAgent;

  beforeEach(async () => {
    h = new Harness();
    await h.start();
    broker = await AedesHarness.start();
    // The harness trusts kid k1 with this seed (device/e2e/harness.ts). The backend signs on
    // the harness's clock: a signed time from the wall clock would end the tokens' validity.
    const signer = new BackendSigner({ ed: h.ed, kid: 'k1', seed: new Uint8Array(32).fill(3), now: () => h.clock.now() });
    backend = await TestBackend.connect({ url: broker.url, signer, protocolVersion: 4 });
    agent = startHarnessAgent(h, broker.url);
    await backend.waitFor(() => backend.presence.get(LOCKER)?.status === 'online', 5000, 'birth');
  });
  afterEach(async () => {
    await agent.stop();
    await backend.close();
    await broker.close();
    await h.close();
  });

  it('carries the code-set version, codes awaiting deposit, rejected messages by reason, lockouts and door failures', async () => {
    await backend.waitFor(() => backend.health.length >= 1, 5000, 'first health');
    expect(backend.health[0]?.health).toMatchObject({ lockouts: 0, awaitingDeposit: 0, rejectedMessages: {}, doorFailures: { jammed: 0, 'relay-fault': 0, 'sensor-unknown': 0 } });

    // Two parcels announced, one deposited: one code still awaits its deposit.
    h.addParcel({ parcelId: 'P1', compartmentId: 'A03', code: '55555555' });
    h.deposit(h.addParcel({ parcelId: 'P2', compartmentId: 'A05', code: '66666666' }));
    // Four wrong codes begin one lockout (docs/security.md §1).
    for (let i = 1; i <= 4; i++) await h.type(`9${String(i)}012345#`);
    expect(h.runtime.health().lockout.active).toBe(true);
    // One jammed door.
    h.control.injectFault('A04', 'door-jammed');
    await h.scan(h.token('pickup', { cmp: 'A04', par: 'PJ1' }).token);
    await h.advance(11_000);
    // Two unreadable commands, rejected by the locker's agent.
    await backend.publishRaw(topicFor(LOCKER, 'cmd'), '{not json');
    await backend.publishRaw(topicFor(LOCKER, 'cmd'), '{not json');
    await backend.waitFor(() => agent.status().rejections === 2, 5000, 'rejections');

    const sent = backend.health.length;
    backend.publishCommand(LOCKER, 'txn-health-01', { kind: 'report-health' });
    await backend.waitFor(() => backend.health.length > sent, 5000, 'health after report-health');
    const report = backend.health.at(-1)?.health;
    const reasons = agent.status().rejectionsByReason;
    expect(Object.values(reasons)).toEqual([2]);
    expect(report).toMatchObject({
      codeSetVersion: h.store.codeSetState().version,
      liveCodes: 1,
      awaitingDeposit: 1,
      rejectedMessages: reasons,
      lockouts: 1,
      doorFailures: { jammed: 1, 'relay-fault': 0, 'sensor-unknown': 0 },
      rejectionAuditsSuppressed: 0,
    });
    expect(report?.codeSetVersion).toBeGreaterThan(0);

    // The command's reply carries the same figures.
    await backend.waitFor(() => backend.replies.some((r) => r.transactionId === 'txn-health-01'), 5000, 'reply');
    const reply = backend.replies.find((r) => r.transactionId === 'txn-health-01');
    expect(reply).toMatchObject({ status: 'ok', result: { kind: 'report-health', health: { lockouts: 1, rejectedMessages: reasons } } });
  });
});
