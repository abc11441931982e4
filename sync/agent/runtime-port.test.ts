import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness, LOCKER } from '@locker/device/e2e/harness.js';
import { makeEntries } from '@locker/device/store/store-test-fixtures.js';
import { BackendSigner } from '@locker/contract/backend-signer.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { TestBackend } from '@locker/sync-testing/test-backend.js';
import type { SyncAgent } from './sync-agent.js';
import { startHarnessAgent } from '@locker/sync-testing/harness-agent.js';

// The agent against the real LockerRuntime's DeviceSyncPort (simulated hardware, real
// SQLite, the runtime's trusted clock): a remote open delivered three times pulses the
// relay once, and a batch from the broker lands in the runtime's store.

describe('sync agent on the real runtime port', () => {
  let h: Harness;
  let broker: AedesHarness;
  let backend: TestBackend;
  let agent: SyncAgent;

  beforeEach(async () => {
    h = new Harness();
    await h.start();
    broker = await AedesHarness.start();
    // The harness trusts kid k1 with this seed (device/e2e/harness.ts).
    const signer = new BackendSigner({ ed: h.ed, kid: 'k1', seed: new Uint8Array(32).fill(3), now: () => Date.now() });
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

  it('pulses once for a remote open delivered three times (twice while running, once after)', async () => {
    const msg = backend.publishCommand(LOCKER, 'txn-runtime-01', { kind: 'remote-open', compartmentId: 'A02', reason: 'support' });
    backend.publish(LOCKER, 'cmd', msg);
    const replies = () => backend.replies.filter((r) => r.transactionId === 'txn-runtime-01');
    for (let i = 0; i < 200 && replies().length < 1; i++) {
      await h.advance(100); // the runtime's door supervision runs on the fake clock
      await new Promise((r) => setTimeout(r, 5));
    }
    backend.publish(LOCKER, 'cmd', msg); // after completion: answered from the command log
    await backend.waitFor(() => replies().length === 2, 5000, 'stored reply');
    expect(replies()).toHaveLength(2);
    expect(new Set(replies().map((r) => r.id)).size).toBe(1);
    expect(replies()[0]).toMatchObject({ status: 'ok', result: { kind: 'remote-open' } });
    expect(h.control.pulses('A02')).toHaveLength(1);
  });

  it('applies a batch from the broker into the runtime store and raises its trusted time', async () => {
    const before = h.runtime.trustedNow();
    const version = h.store.codeSetState().version;
    backend.publishBatch({ lockerId: LOCKER, kind: 'delta', fromVersion: version, toVersion: version + 1, upserts: makeEntries(1, 5), revocations: [], keyring: [] });
    await backend.waitFor(() => backend.codeAcks.length === 1, 5000, 'ack');
    expect(backend.codeAcks[0]).toMatchObject({ outcome: 'applied', state: { version: version + 1 } });
    expect(h.store.findEntryByTokenId(makeEntries(1, 1)[0]!.tokenId)).toBeDefined();
    expect(h.runtime.trustedNow()).toBeGreaterThan(before);
  });
});
