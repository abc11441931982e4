import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// Issue 7 part 6: after a customer open the locker cannot see through (dead door sensor),
// it concludes what is safe — the token is spent (the parcel was reachable), a pickup's
// entry is collected, nothing is deposited on top of what may still be inside — and hands
// the rest to a technician: a priority 'technician.task' and, for a pickup, the compartment
// out of service as 'needs-check' until someone looks (docs/operations.md).

let h: Harness;
afterEach(async () => {
  await h.close();
});

function priority(type: string): Array<Record<string, unknown>> {
  return h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 10_000 })
    .filter((r) => r.type === type)
    .map((r) => JSON.parse(r.dataJson) as Record<string, unknown>);
}

describe('a pickup with a dead door sensor', () => {
  it('spends the token, takes the compartment out of service as needs-check and files a technician task', async () => {
    h = new Harness();
    await h.start();
    const parcel = h.addParcel({ parcelId: 'P-DEAD', compartmentId: 'A02', code: '11223344' });
    h.deposit(parcel);
    h.control.injectFault('A02', 'sensor-dead');
    await h.advance(1_000);
    await h.scan(parcel.token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.store.isTokenUsed(parcel.tokenId)).toBe(true);
    expect(h.store.findEntryByTokenId(parcel.tokenId)?.state).toBe('collected');
    expect(h.store.getCompartment('A02')).toMatchObject({ status: 'out-of-service' });
    expect(priority('technician.task')).toEqual([
      { compartmentId: 'A02', task: 'check-compartment', cause: 'sensor-unknown', outOfService: true, tokenId: parcel.tokenId, parcelId: 'P-DEAD' },
    ]);
    expect(h.runtime.health().compartments.find((c) => c.id === 'A02')?.status).toBe('out-of-service');

    await h.restart();
    await h.scan(parcel.token);
    await h.advance(2_000);
    expect(h.pulses('A02')).toBe(1);
  });

  it('frees the compartment once a technician puts it back into service', async () => {
    h = new Harness();
    await h.start();
    const parcel = h.addParcel({ parcelId: 'P-DEAD2', compartmentId: 'A03', code: '55667788' });
    h.deposit(parcel);
    h.control.injectFault('A03', 'sensor-dead');
    await h.advance(1_000);
    await h.scan(parcel.token);
    await h.advance(100);
    expect(h.store.getCompartment('A03')?.status).toBe('out-of-service');
    h.control.clearFault('A03');
    await h.advance(1_000);
    expect(h.runtime.setCompartmentService('A03', true, 'tech-1')).toEqual({ outcome: 'changed', status: 'free' });
    expect(h.store.getCompartment('A03')?.status).toBe('free');
  });

  it('treats a sensor that dies while the door is awaited as unknown, not jammed: the token is spent', async () => {
    h = new Harness();
    await h.start();
    const parcel = h.addParcel({ parcelId: 'P-LOST', compartmentId: 'A04', code: '99887766' });
    h.deposit(parcel);
    h.control.setBehaviour('A04', { autoOpenOnPulse: false });
    await h.scan(parcel.token);
    h.control.injectFault('A04', 'sensor-dead');
    await h.advance(11_000);
    expect(h.auditTypes()).not.toContain('door.jammed');
    expect(h.store.isTokenUsed(parcel.tokenId)).toBe(true);
    expect(priority('technician.task')).toMatchObject([{ compartmentId: 'A04', cause: 'sensor-unknown' }]);
    await h.scan(parcel.token);
    await h.advance(2_000);
    expect(h.pulses('A04')).toBe(1);
  });

  it('keeps a return drop-off compartment occupied, with a technician task, so no courier deposits on the return', async () => {
    h = new Harness();
    await h.start();
    h.control.injectFault('A05', 'sensor-dead');
    await h.advance(1_000);
    const ret = h.token('return-dropoff', { cmp: 'A05', par: 'RET-DEAD' });
    await h.scan(ret.token);
    await h.advance(100);
    expect(h.store.isTokenUsed(ret.jti)).toBe(true);
    expect(h.store.getCompartment('A05')).toMatchObject({ status: 'occupied', parcelId: 'RET-DEAD' });
    expect(priority('technician.task')).toMatchObject([{ compartmentId: 'A05', cause: 'sensor-unknown', outOfService: false }]);
  });
});

describe('a return retrieval with a dead door sensor', () => {
  it('spends the credential and retrieves the entry, but hands the compartment to a technician instead of freeing it for the next deposit', async () => {
    h = new Harness();
    await h.start();
    const parcel = h.addParcel({ parcelId: 'P-RET', compartmentId: 'A02', code: '24681357' });
    h.deposit(parcel);
    h.control.injectFault('A02', 'sensor-dead');
    await h.advance(1_000);
    const retrieval = h.token('return-retrieval', { cmp: 'A02', par: 'P-RET', sub: 'courier-2' });
    await h.scan(retrieval.token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.store.isTokenUsed(retrieval.jti)).toBe(true);
    expect(h.store.findEntryByTokenId(parcel.tokenId)?.state).toBe('retrieved');
    // The door may never have opened (jammed, the sensor cannot say): the parcel may still
    // be inside, so no courier is offered this door until someone looks, as for a pickup.
    expect(h.store.getCompartment('A02')).toMatchObject({ status: 'out-of-service', outOfServiceReason: 'needs-check' });
    expect(priority('technician.task')).toEqual([
      { compartmentId: 'A02', task: 'check-compartment', cause: 'sensor-unknown', outOfService: true, tokenId: retrieval.jti, parcelId: 'P-RET' },
    ]);
    expect(h.store.verifyAuditChain().ok).toBe(true);

    h.control.clearFault('A02');
    await h.advance(1_000);
    expect(h.runtime.setCompartmentService('A02', true, 'tech-1')).toEqual({ outcome: 'changed', status: 'free' });
  });
});
