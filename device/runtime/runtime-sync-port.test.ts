import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from '../e2e/harness.js';

let h: Harness;

afterEach(async () => {
  await h.close();
});

describe('the runtime sync port', () => {
  it('raises the trusted-time floor from a backend-signed time and never lowers it', async () => {
    h = new Harness();
    await h.start();
    const port = h.runtime.syncPort();
    const future = h.clock.now() + 86_400_000;
    port.observeTrustedTime(future, 'batch-manifest');
    expect(h.store.clockFloor()).toBe(future);
    expect(h.runtime.trustedNow()).toBeGreaterThanOrEqual(future);
    port.observeTrustedTime(future - 1000, 'batch-manifest');
    expect(h.store.clockFloor()).toBe(future);
  });

  it('refuses a remote open of an out-of-service compartment and of one that is busy', async () => {
    h = new Harness();
    await h.start();
    const port = h.runtime.syncPort();
    h.store.setCompartmentStatus('A01', 'out-of-service', { reason: 'operator' });
    expect(await port.remoteOpen('tx-oos', 'A01', 'support')).toEqual({ outcome: 'out-of-service' });
    h.control.injectFault('A02', 'door-jammed');
    const first = port.remoteOpen('tx-a', 'A02', 'support');
    expect(await port.remoteOpen('tx-b', 'A02', 'support')).toEqual({ outcome: 'busy' });
    await h.advance(11_000);
    expect(await first).toEqual({ outcome: 'jammed' });
  });

  it('reports health: compartments, doors, lockout, live codes, audit backlog, clock floor', async () => {
    h = new Harness();
    await h.start();
    const health = h.runtime.syncPort().health();
    expect(health.compartments[0]).toEqual({ id: 'A01', status: 'ok', door: 'closed' });
    expect(health.lockout).toEqual({ active: false, failures: 0 });
    expect(health.auditBacklog).toBeGreaterThan(0);
    expect(health.clockFloor).toBeGreaterThan(0);
  });

  it('delegates audit and command bookkeeping to the store', async () => {
    h = new Harness();
    await h.start();
    const port = h.runtime.syncPort();
    const record = port.appendAudit('sync.test', 'normal', { n: 1 });
    expect(port.auditHighWatermark()).toBe(record.seq);
    port.beginCommand('tx-9', 'open', h.clock.now() + 60_000);
    expect(port.unfinishedCommands().map((c) => c.transactionId)).toEqual(['tx-9']);
    port.completeCommand('tx-9', '{"ok":true}');
    expect(port.findCommandReply('tx-9')?.replyJson).toBe('{"ok":true}');
    expect(port.lockerId).toBe('locker-e2e-1');
  });
});
