import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// Races between a courier's open deposit door and the rest of the world.

let h: Harness;

afterEach(async () => {
  await h.close();
});

describe('courier deposit races', () => {
  // Review #3: markDeposited threw STORE_STATE_CONFLICT, the whole transaction rolled back
  // and the compartment stayed 'free' with the parcel inside.
  it('records the parcel inside and a priority return-needed audit when its entry is revoked while the deposit door is open', async () => {
    h = new Harness();
    await h.start();
    await h.scan(h.token('courier', { sub: 'c1' }).token);
    const p1 = h.addParcel({ parcelId: 'P1', compartmentId: 'A02', code: '10203040', size: 'M' });
    await h.scan('P1');
    await h.advance(100);
    expect(h.control.doorIsOpen('A02')).toBe(true);
    h.applyBatch({ revocations: [{ tokenId: p1.tokenId, reason: 'cancelled' }] });
    await h.closeDoor('A02');
    expect(h.runtime.stats().handlerErrors).toBe(0);
    expect(h.store.getCompartment('A02')).toMatchObject({ status: 'occupied', parcelId: 'P1' });
    expect(h.store.findEntryByTokenId(p1.tokenId)?.state).toBe('revoked');
    const record = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).find((r) => r.type === 'courier.deposited-not-live');
    expect(JSON.parse(record?.dataJson ?? '{}')).toMatchObject({ parcelId: 'P1', compartmentId: 'A02', entryState: 'revoked', returnNeeded: true });
    // The compartment is not handed out again.
    h.addParcel({ parcelId: 'P2', compartmentId: 'A02', code: '10203041', size: 'M' });
    await h.scan('P2');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
  });
});
