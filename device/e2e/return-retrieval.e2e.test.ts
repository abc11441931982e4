import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// Review #9: a return-retrieval credential ignored its `par` and the compartment's state,
// and marked every live entry in the compartment retrieved.

let h: Harness;

afterEach(async () => {
  await h.close();
});

describe('return retrieval', () => {
  it('opens nothing for a retrieval credential naming another parcel than the one in the compartment, and leaves the customer parcel live', async () => {
    h = new Harness();
    await h.start();
    const cust = h.addParcel({ parcelId: 'CUST', compartmentId: 'A02', code: '12121212' });
    h.deposit(cust);
    await h.scan(h.token('return-retrieval', { cmp: 'A02', par: 'OTHER', sub: 'c1' }).token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(0);
    expect(h.store.findEntryByTokenId(cust.tokenId)?.state).toBe('live');
    expect(h.store.getCompartment('A02')).toMatchObject({ status: 'occupied', parcelId: 'CUST' });
    expect(h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).map((r) => r.type)).toContain('return.retrieval-refused');
  });

  it('opens nothing for a retrieval credential without a parcel', async () => {
    h = new Harness();
    await h.start();
    const cust = h.addParcel({ parcelId: 'CUST', compartmentId: 'A02', code: '12121212' });
    h.deposit(cust);
    await h.scan(h.token('return-retrieval', { cmp: 'A02', sub: 'c1' }).token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(0);
    expect(h.store.findEntryByTokenId(cust.tokenId)?.state).toBe('live');
  });

  it('marks retrieved only the entries of the parcel the credential names', async () => {
    h = new Harness();
    await h.start();
    const old = h.addParcel({ parcelId: 'OLD', compartmentId: 'A02', code: '12121213', exp: h.clock.now() + 3_600_000 });
    h.deposit(old);
    // A stray live entry pointing at the same compartment (re-slot bookkeeping gone wrong).
    const stray = h.addParcel({ parcelId: 'STRAY', compartmentId: 'A02', code: '12121214' });
    h.store.markDeposited(stray.tokenId, 'A02', h.clock.now());
    await h.advance(2 * 3_600_000);
    await h.type('12121213#');
    expect(h.store.findEntryByTokenId(old.tokenId)?.state).toBe('expired');
    await h.scan(h.token('return-retrieval', { cmp: 'A02', par: 'OLD', sub: 'c1' }).token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    await h.closeDoor('A02');
    expect(h.store.findEntryByTokenId(old.tokenId)?.state).toBe('retrieved');
    expect(h.store.findEntryByTokenId(stray.tokenId)?.state).toBe('live');
  });
});
