import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// Returning a compartment to service: the one way back from out-of-service, audited in
// the priority lane, never "free" while a live parcel is inside.

let h: Harness;

afterEach(async () => {
  await h.close();
});

function priorityTypes(): string[] {
  return h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 10_000 }).map((r) => r.type);
}

async function jamUntilOutOfService(id: string): Promise<void> {
  h.control.injectFault(id, 'door-jammed');
  for (let i = 0; i < 3; i++) {
    await h.scan(h.token('pickup', { cmp: id, par: `PJ${String(i)}` }).token);
    await h.advance(11_000);
  }
  expect(h.store.getCompartment(id)?.status).toBe('out-of-service');
}

describe('compartment service (operator)', () => {
  it('returns a compartment that jammed repeatedly to service, clears its failures and audits it in the priority lane', async () => {
    h = new Harness();
    await h.start();
    await jamUntilOutOfService('A04');
    expect(h.store.getCompartment('A04')?.failureCount).toBe(3);
    h.control.clearFault('A04');

    expect(h.runtime.setCompartmentService('A04', true, 'technician-7')).toEqual({ outcome: 'changed', status: 'free' });

    expect(h.store.getCompartment('A04')).toMatchObject({ status: 'free', failureCount: 0 });
    const record = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 10_000 }).find((r) => r.type === 'compartment.in-service');
    expect(JSON.parse(record?.dataJson ?? '{}')).toMatchObject({ compartmentId: 'A04', from: 'out-of-service', to: 'free', failuresCleared: 3, by: 'technician-7' });
    // Back in service it opens again.
    await h.scan(h.token('pickup', { cmp: 'A04', par: 'P-after' }).token);
    await h.advance(100);
    expect(h.control.doorIsOpen('A04')).toBe(true);
  });

  it('returns a compartment with a live parcel inside to occupied, never free', async () => {
    h = new Harness();
    await h.start();
    const entry = h.addParcel({ parcelId: 'P-inside', compartmentId: 'A02', code: '31415926' });
    h.deposit(entry);
    h.store.setCompartmentStatus('A02', 'out-of-service', { reason: 'jammed' });

    expect(h.runtime.setCompartmentService('A02', true, 'technician-7')).toEqual({ outcome: 'changed', status: 'occupied' });

    expect(h.store.getCompartment('A02')).toMatchObject({ status: 'occupied', parcelId: 'P-inside' });
    // The customer's code opens it again.
    await h.type('31415926#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
  });

  it('returns a compartment holding an expired parcel to occupied, so no courier deposits on top of it', async () => {
    h = new Harness();
    await h.start();
    const old = h.addParcel({ parcelId: 'OLD', compartmentId: 'A02', code: '27182818', exp: h.clock.now() + 2 * 3_600_000 });
    h.deposit(old);
    await h.advance(3 * 3_600_000);
    await h.type('27182818#');
    expect(h.store.findEntryByTokenId(old.tokenId)?.state).toBe('expired');
    h.runtime.setCompartmentService('A02', false, 'technician-7');

    expect(h.runtime.setCompartmentService('A02', true, 'technician-7')).toEqual({ outcome: 'changed', status: 'occupied' });

    expect(h.store.getCompartment('A02')).toMatchObject({ status: 'occupied', parcelId: 'OLD' });
    await h.scan(h.token('courier', { sub: 'c1' }).token);
    h.addParcel({ parcelId: 'NEW', compartmentId: 'A02', code: '27182819' });
    await h.scan('NEW');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(0);
  });

  it('returns a compartment whose parcel was collected to free', async () => {
    h = new Harness();
    await h.start();
    const entry = h.addParcel({ parcelId: 'GONE', compartmentId: 'A02', code: '27182818' });
    h.deposit(entry);
    h.store.transaction(() => {
      h.store.markCollected(entry.tokenId, h.clock.now());
      h.store.setCompartmentStatus('A02', 'out-of-service', { reason: 'jammed' });
    });

    expect(h.runtime.setCompartmentService('A02', true, 'technician-7')).toEqual({ outcome: 'changed', status: 'free' });
  });

  it('takes a compartment out of service on an operator order, keeps its parcel and refuses opens', async () => {
    h = new Harness();
    await h.start();
    const entry = h.addParcel({ parcelId: 'P-kept', compartmentId: 'A03', code: '27182818' });
    h.deposit(entry);

    expect(h.runtime.setCompartmentService('A03', false, 'technician-7', { reason: 'hinge broken' })).toEqual({ outcome: 'changed', status: 'out-of-service' });

    expect(h.store.getCompartment('A03')).toMatchObject({ status: 'out-of-service', parcelId: 'P-kept', outOfServiceReason: 'operator' });
    expect(priorityTypes()).toContain('compartment.out-of-service');
    expect(h.runtime.setCompartmentService('A03', false, 'technician-7')).toEqual({ outcome: 'unchanged', status: 'out-of-service' });
  });

  it('answers unchanged for a compartment already in service and unknown-compartment for an id it does not have', async () => {
    h = new Harness();
    await h.start();
    const before = priorityTypes().length;
    expect(h.runtime.setCompartmentService('A01', true, 'technician-7')).toEqual({ outcome: 'unchanged', status: 'free' });
    expect(h.runtime.setCompartmentService('Z99', true, 'technician-7')).toEqual({ outcome: 'unknown-compartment' });
    expect(priorityTypes()).toHaveLength(before);
  });
});
