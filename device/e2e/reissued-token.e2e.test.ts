import { afterEach, describe, expect, it } from 'vitest';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import { Harness, LOCKER, PEPPER } from './harness.js';

// A backend may re-issue a parcel's pickup token (key revocation does; an older backend did
// on a re-slot): the old token is revoked and a new one, same code, names another
// compartment. Whenever that batch arrives — with the deposit door open or after the
// deposit — the parcel must end up live where it really is, and the code must open that door.

let h: Harness;

afterEach(async () => {
  await h.close();
});

const CODE = '31415926';

function reissue(old: CodeEntry, compartmentId: string): CodeEntry {
  const digest = codeDigest(PEPPER, LOCKER, CODE);
  const { jti, token } = h.token('pickup', { cmp: compartmentId, par: old.parcelId, cdh: digest });
  const entry: CodeEntry = { ...old, tokenId: jti, token, compartmentId };
  h.applyBatch({ revocations: [{ tokenId: old.tokenId, reason: 'reassigned' }], upserts: [entry] });
  return entry;
}

async function courierFaultyReslot(): Promise<CodeEntry> {
  await h.scan(h.token('courier', { sub: 'courier-1' }).token);
  const entry = h.addParcel({ parcelId: 'R1', compartmentId: 'A02', code: CODE, size: 'M' });
  h.control.injectFault('A02', 'relay-dead');
  await h.scan('R1');
  await h.advance(100);
  expect(h.control.doorIsOpen('A03')).toBe(true);
  return entry;
}

async function expectCodeOpens(compartmentId: string): Promise<void> {
  const before = h.pulses(compartmentId);
  await h.type(`${CODE}#`);
  await h.advance(200);
  expect(h.pulses(compartmentId)).toBe(before + 1);
  expect(h.lastText()).toContain(compartmentId);
}

describe('a pickup token re-issued around a re-slot', () => {
  it('deposits under the new token when it arrives while the deposit door is open, and the code opens the real compartment', async () => {
    h = new Harness();
    await h.start();
    const old = await courierFaultyReslot();
    const fresh = reissue(old, 'A04');
    await h.closeDoor('A03');
    expect(h.store.findEntryByTokenId(fresh.tokenId)).toMatchObject({ state: 'live', currentCompartmentId: 'A03' });
    expect(h.auditTypes()).not.toContain('courier.deposited-not-live');
    const deposited = h.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 1000 }).filter((r) => r.type === 'courier.deposited');
    expect(deposited.map((r) => JSON.parse(r.dataJson) as Record<string, unknown>)).toEqual([
      { tokenId: fresh.tokenId, replacedTokenId: old.tokenId, parcelId: 'R1', compartmentId: 'A03', assignedId: 'A02' },
    ]);
    await expectCodeOpens('A03');
  });

  it('makes the new token live in the compartment the parcel is in when it arrives after the deposit', async () => {
    h = new Harness();
    await h.start();
    const old = await courierFaultyReslot();
    await h.closeDoor('A03');
    const fresh = reissue(old, 'A04');
    expect(h.store.findEntryByTokenId(old.tokenId)?.state).toBe('revoked');
    expect(h.store.findEntryByTokenId(fresh.tokenId)).toMatchObject({ state: 'live', currentCompartmentId: 'A03' });
    // A04 is not held for a parcel that is already in A03.
    expect(h.store.reservedCompartments('other')).not.toContain('A04');
    await expectCodeOpens('A03');
  });

  it('leaves a new token awaiting deposit when the parcel was never deposited', async () => {
    h = new Harness();
    await h.start();
    const old = h.addParcel({ parcelId: 'R2', compartmentId: 'A02', code: CODE, size: 'M' });
    const fresh = reissue(old, 'A03');
    expect(h.store.findEntryByTokenId(fresh.tokenId)).toMatchObject({ state: 'awaiting-deposit', currentCompartmentId: 'A03' });
  });
});
