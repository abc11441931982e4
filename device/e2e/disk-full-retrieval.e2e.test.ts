import { afterEach, describe, expect, it } from 'vitest';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import { messages } from '../core/display-messages.js';
import { auditRecords, fillDisk, freeSpace } from './full-disk.js';
import { Harness, type HarnessOptions } from './harness.js';

// A full disk (full-disk.ts) and the opens that are not a customer's pickup or a courier's
// deposit: a return retrieval (single-use credential), a technician's service open, and
// the failure count of a door that jammed. Same rule as pickups and deposits: no door opens
// without its journal entry; what a door did before the disk filled is written once space
// is back, and what it spent is held meanwhile.

let h: Harness;

afterEach(async () => {
  freeSpace(h);
  await h.close();
});

async function started(options: HarnessOptions = {}): Promise<void> {
  h = new Harness(options);
  await h.start();
}

/** A flag the pulse hook reads: the disk fills between an open's journal commit and its door opening. */
function fillAtPulse(): { options: HarnessOptions; arm: (on: boolean) => void } {
  let armed = false;
  return {
    options: { beforePulse: () => {
      if (armed) fillDisk(h);
    } },
    arm: (on) => {
      armed = on;
    },
  };
}

/** A customer's parcel in A02 that the backend recalls: a retrieval credential naming it. */
function recalledParcel(): { entry: CodeEntry; retrieval: { jti: string; token: string } } {
  const entry = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '12345678' });
  h.deposit(entry);
  return { entry, retrieval: h.token('return-retrieval', { cmp: 'A02', par: 'P1', sub: 'courier-2' }) };
}

/** The recalled parcel's retrieval credential scanned; the disk fills at the relay pulse, so the door opens (once). */
async function retrievalAsTheDiskFills(): Promise<ReturnType<typeof recalledParcel>> {
  const hook = fillAtPulse();
  await started(hook.options);
  const recalled = recalledParcel();
  hook.arm(true);
  await h.scan(recalled.retrieval.token);
  await h.advance(100);
  hook.arm(false);
  expect(h.pulses('A02')).toBe(1);
  return recalled;
}

describe('a full disk and return retrievals', () => {
  it('opens no door for a retrieval credential while full (its journal entry is refused) and opens it once space is back', async () => {
    await started();
    const { retrieval } = recalledParcel();
    fillDisk(h);
    await h.scan(retrieval.token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(0);
    expect(h.lastText()).toBe(messages.unavailable.text);
    expect(h.store.isTokenUsed(retrieval.jti)).toBe(false);
    expect(h.runtime.stats().handlerErrors).toBe(0);

    freeSpace(h);
    await h.advance(10_000);
    await h.scan(retrieval.token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
  });

  it('never opens twice for one retrieval credential when the disk filled as its door opened, and records the retrieval with its time once space is back', async () => {
    const { entry, retrieval } = await retrievalAsTheDiskFills();
    expect(h.control.doorIsOpen('A02')).toBe(true);
    const openedAt = h.runtime.trustedNow();
    await h.closeDoor('A02');
    expect(h.runtime.stats().handlerErrors).toBe(0);

    // Still full: the credential is held spent, and the parcel is gone, so its customer's
    // code opens nothing either.
    await h.scan(retrieval.token);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    // Space is back before the clock tick wrote the retrieval: still held.
    freeSpace(h);
    await h.scan(retrieval.token);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);

    await h.advance(10_000);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(true);
    expect(h.store.isTokenUsed(retrieval.jti)).toBe(true);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('retrieved');
    expect(h.store.getCompartment('A02')?.status).toBe('free');
    expect(h.store.unfinishedOpens()).toEqual([]);
    const all = auditRecords(h);
    const types = all.map((r) => r.type);
    expect(types.indexOf('return.retrieval-opened')).toBeLessThan(types.indexOf('return.retrieved'));
    expect(types.indexOf('return.retrieved')).toBeLessThan(types.indexOf('device.storage-recovered'));
    const opened = all.find((r) => r.type === 'return.retrieval-opened');
    expect(opened?.data).toMatchObject({ tokenId: retrieval.jti, compartmentId: 'A02', parcelId: 'P1', door: 'opened' });
    expect(opened?.data.occurredAt).toBeLessThanOrEqual(openedAt);
    expect(all.find((r) => r.type === 'return.retrieved')?.data).toMatchObject({ courierTokenId: retrieval.jti, entries: [entry.tokenId] });
    expect(h.store.verifyAuditChain().ok).toBe(true);

    await h.scan(retrieval.token);
    await h.type('12345678#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
  });

  it('does not open twice for one retrieval credential after a restart lost the record the full disk refused, and hands the compartment to a technician', async () => {
    const { entry, retrieval } = await retrievalAsTheDiskFills();
    await h.closeDoor('A02');
    // What waits in memory dies with the process; the restarted store has space.
    await h.restart();
    await h.scan(retrieval.token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.store.isTokenUsed(retrieval.jti)).toBe(true);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('retrieved');
    // Not left 'occupied' for a parcel that may be gone: a person looks.
    expect(h.store.getCompartment('A02')).toMatchObject({ status: 'out-of-service', outOfServiceReason: 'needs-check' });
    const task = auditRecords(h).find((r) => r.type === 'technician.task');
    expect(task?.data).toMatchObject({ compartmentId: 'A02', cause: 'open-unknown', tokenId: retrieval.jti, parcelId: 'P1' });
    expect(h.store.verifyAuditChain().ok).toBe(true);
    // Back in service it is free: the parcel's entries say it was taken out.
    expect(h.runtime.setCompartmentService('A02', true, 'technician-7')).toEqual({ outcome: 'changed', status: 'free' });
  });
});

describe('a full disk and service opens', () => {
  it('opens no door for a service credential while full, and ends a service open whose door opened before the disk filled normally', async () => {
    const hook = fillAtPulse();
    await started(hook.options);
    const service = h.token('service', { cmp: 'A03', sub: 'tech-1' });
    fillDisk(h);
    await h.scan(service.token);
    await h.advance(100);
    expect(h.pulses('A03')).toBe(0);
    expect(h.lastText()).toBe(messages.unavailable.text);
    freeSpace(h);
    await h.advance(10_000);

    hook.arm(true);
    await h.scan(service.token);
    await h.advance(100);
    hook.arm(false);
    expect(h.pulses('A03')).toBe(1);
    await h.closeDoor('A03');
    freeSpace(h);
    await h.advance(10_000);
    expect(h.store.unfinishedOpens()).toEqual([]);
    const types = auditRecords(h).map((r) => r.type);
    expect(types.lastIndexOf('door.closed')).toBeLessThan(types.lastIndexOf('device.storage-recovered'));
    // A service credential is reusable within its window.
    await h.scan(service.token);
    await h.advance(100);
    expect(h.pulses('A03')).toBe(2);
  });
});

describe('a full disk and door failures', () => {
  it('counts a jam the full disk refused once space is back, and takes the compartment out of service at the threshold', async () => {
    const hook = fillAtPulse();
    await started({ ...hook.options, config: { doorFailuresBeforeOutOfService: 1 } });
    h.control.injectFault('A04', 'door-jammed');
    hook.arm(true);
    await h.scan(h.token('pickup', { cmp: 'A04', par: 'PJ' }).token);
    await h.advance(11_000);
    hook.arm(false);
    expect(h.pulses('A04')).toBe(1);
    expect(h.runtime.syncPort().health().doorFailures).toMatchObject({ jammed: 1 });
    expect(h.runtime.stats().handlerErrors).toBe(0);
    freeSpace(h);
    await h.advance(10_000);
    expect(h.store.getCompartment('A04')).toMatchObject({ status: 'out-of-service', failureCount: 1 });
    const types = auditRecords(h).map((r) => r.type);
    expect(types).toContain('door.jammed');
    expect(types.indexOf('compartment.out-of-service')).toBeLessThan(types.indexOf('device.storage-recovered'));
  });
});
