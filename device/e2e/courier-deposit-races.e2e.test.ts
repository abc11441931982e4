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

describe('courier credential lifetime', () => {
  // Review #8: the credential was checked once; the session re-armed its timer on every
  // input and outlived the credential's expiry and revocation.
  it('opens nothing for a session whose credential has expired, however busy the courier kept it', async () => {
    h = new Harness();
    await h.start();
    const cred = h.token('courier', { sub: 'c1', exp: h.clock.now() + 5 * 60_000 });
    await h.scan(cred.token);
    for (let i = 0; i < 8; i++) {
      await h.advance(4 * 60_000);
      await h.scan('NOPE');
    }
    const p = h.addParcel({ parcelId: 'LATE', compartmentId: 'A02', code: '60606060' });
    await h.scan('LATE');
    await h.advance(2000);
    expect(h.pulses('A02')).toBe(0);
    expect(h.texts()).toContain('Courier credential expired.');
    expect(h.runtime['courier'].session.kind).toBe('none');
    expect(h.store.findEntryByTokenId(p.tokenId)?.state).toBe('awaiting-deposit');
  });

  it('opens nothing for a session whose credential was revoked after it started', async () => {
    h = new Harness();
    await h.start();
    const cred = h.token('courier', { sub: 'c1' });
    await h.scan(cred.token);
    h.applyBatch({ revocations: [{ tokenId: cred.jti, reason: 'compromised' }] });
    h.addParcel({ parcelId: 'P7', compartmentId: 'A02', code: '60606061' });
    await h.scan('P7');
    await h.advance(2000);
    expect(h.pulses()).toBe(0);
    expect(h.texts()).toContain('Courier credential no longer valid.');
    expect(h.runtime['courier'].session.kind).toBe('none');
  });
});
