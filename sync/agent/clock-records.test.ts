import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness, LOCKER } from '@locker/device/e2e/harness.js';
import { BackendSigner } from '@locker/contract/backend-signer.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { TestBackend } from '@locker/sync-testing/test-backend.js';
import type { SyncAgent } from './sync-agent.js';
import { startHarnessAgent } from '@locker/sync-testing/harness-agent.js';

// Issue 7 part 5: every verified audit ack carries a signed time. Recording each one as
// a `clock.signed-time` audit record fed the upload its own acks (38% of all records in
// a long run). Through the real runtime, agent and broker: N ack round trips leave O(1)
// clock records (docs/decisions/0019).

const ROUND_TRIPS = 25;

describe('signed times from audit acks', () => {
  let h: Harness;
  let broker: AedesHarness;
  let backend: TestBackend;
  let agent: SyncAgent;
  /** The backend's clock minus the locker's wall clock: a second, plus jitter per round trip. */
  let skewMs = 1000;

  beforeEach(async () => {
    h = new Harness();
    await h.start();
    broker = await AedesHarness.start();
    // The backend's clock is about a second ahead of the locker's (NTP-grade agreement, well
    // inside the tolerance), and each ack's iat lands with a different network delay; the
    // harness trusts kid k1 with this seed.
    const signer = new BackendSigner({ ed: h.ed, kid: 'k1', seed: new Uint8Array(32).fill(3), now: () => h.clock.now() + skewMs });
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

  it('writes O(1) clock records for N audit ack round trips, not N', { timeout: 120_000 }, async () => {
    // Acknowledged records included: the upload loop is what acks them.
    const clockRecords = (): number =>
      h.store.database.prepare<[], { n: number }>("SELECT count(*) AS n FROM audit_log WHERE type LIKE 'clock.%'").get()?.n ?? 0;
    const before = clockRecords();
    for (let i = 0; i < ROUND_TRIPS; i++) {
      skewMs = 1000 + ((i * 7919) % 50);
      const record = h.store.appendAudit('door.uncommanded-open', 'normal', { compartmentId: `C${String(i)}` });
      await backend.waitFor(() => h.store.auditAckedWatermark() >= record.seq, 10_000, `ack of ${String(record.seq)}`);
      // Time passes between round trips, as in a long run.
      await h.advance(5_000);
    }
    const acked = h.store.auditAckedWatermark();
    expect(acked).toBeGreaterThanOrEqual(ROUND_TRIPS);
    expect(clockRecords() - before).toBeLessThanOrEqual(1);
    // The latest signed time is kept in meta instead.
    expect(h.store.clockTrust().signedMaxMs).toBeGreaterThan(h.clock.now() - 60_000);
  });
});
