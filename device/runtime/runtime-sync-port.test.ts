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

  it('answers unknown, never busy and never a second pulse, to a remote open repeated after its first attempt died with the process', async () => {
    h = new Harness();
    await h.start();
    h.control.setBehaviour('A02', { autoOpenOnPulse: false });
    // The first attempt is journaled and pulsed, then the process dies before the door
    // supervision learns anything (no time passes on the fake clock).
    void h.runtime.syncPort().remoteOpen('tx-crash-1', 'A02', 'support');
    expect(h.pulses('A02')).toBe(1);
    await h.restart();
    expect(await h.runtime.syncPort().remoteOpen('tx-crash-1', 'A02', 'support')).toEqual({ outcome: 'unknown' });
    expect(h.pulses('A02')).toBe(1);
    // A new transaction id is a new order and opens normally.
    h.control.setBehaviour('A02', { autoOpenOnPulse: true });
    const next = h.runtime.syncPort().remoteOpen('tx-next-1', 'A02', 'support');
    await h.advance(1_000);
    expect(await next).toEqual({ outcome: 'opened' });
  });

  it('answers unknown for a remote open whose door sensor cannot tell whether it opened', async () => {
    h = new Harness();
    await h.start();
    h.control.injectFault('A03', 'sensor-dead');
    await h.advance(200);
    const open = h.runtime.syncPort().remoteOpen('tx-sensor-1', 'A03', 'support');
    await h.advance(100);
    expect(h.pulses('A03')).toBe(1);
    expect(await open).toEqual({ outcome: 'unknown' });
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
    const record = port.appendAudit('sync.command-unknown', 'normal', { transactionId: 'tx-1', kind: 'remote-open', startedAt: 1 });
    expect(port.auditHighWatermark()).toBe(record.seq);
    port.beginCommand('tx-9', 'open', h.clock.now() + 60_000);
    expect(port.unfinishedCommands().map((c) => c.transactionId)).toEqual(['tx-9']);
    port.completeCommand('tx-9', '{"ok":true}');
    expect(port.findCommandReply('tx-9')?.replyJson).toBe('{"ok":true}');
    expect(port.lockerId).toBe('locker-e2e-1');
  });
});
