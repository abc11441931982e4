import { describe, expect, it } from 'vitest';
import { messages } from './display-messages.js';
import { decidePickup, type PickupEntryFacts, type PickupFacts } from './pickup-decision.js';

const digest = 'a'.repeat(64);
const entry: PickupEntryFacts = { tokenId: 'tok_000000000001', parcelId: 'P1', compartmentId: 'A01', currentCompartmentId: 'A02', state: 'live', kind: 'pickup' };
const claims = { jti: entry.tokenId, purpose: 'pickup' as const, cmp: 'A01', par: 'P1', cdh: digest };
const good: PickupFacts = { via: 'code', entry, verification: { ok: true, claims }, codeDigest: digest, used: false, revoked: false, timeConfirmed: true };

const dropoffEntry: PickupEntryFacts = { ...entry, kind: 'return-dropoff', currentCompartmentId: 'A01' };
const dropoff: PickupFacts = { ...good, entry: dropoffEntry, verification: { ok: true, claims: { ...claims, purpose: 'return-dropoff' } } };

describe('pickup decision', () => {
  const table: Array<{ name: string; facts: PickupFacts; reason?: string; message?: unknown; counts?: boolean; suspicious?: boolean }> = [
    { name: 'opens the compartment the parcel is in for a live entry', facts: good },
    { name: 'rejects an unknown code as not valid and counts it', facts: { ...good, entry: undefined, verification: undefined }, reason: 'not-found', message: messages.notValid, counts: true },
    { name: 'rejects a cached token with a bad signature as suspicious', facts: { ...good, verification: { ok: false, reason: 'bad-signature' } }, reason: 'token-invalid', message: messages.notValid, counts: true, suspicious: true },
    { name: 'rejects a token signed by a revoked key with the generic message', facts: { ...good, verification: { ok: false, reason: 'revoked-key' } }, reason: 'token-invalid', message: messages.notValid, counts: true },
    { name: 'tells the holder of an expired code that the pickup period ended', facts: { ...good, verification: { ok: false, reason: 'expired' } }, reason: 'expired', message: messages.expired, counts: false },
    { name: 'tells the holder of a not-yet-valid code that the parcel is not available yet', facts: { ...good, verification: { ok: false, reason: 'not-yet-valid' } }, reason: 'not-yet-available', message: messages.notYetAvailable, counts: false },
    { name: 'rejects a row whose code digest differs from the signed cdh', facts: { ...good, verification: { ok: true, claims: { ...claims, cdh: 'b'.repeat(64) } } }, reason: 'entry-mismatch', message: messages.notValid, counts: true, suspicious: true },
    { name: 'rejects a row whose compartment differs from the signed cmp', facts: { ...good, entry: { ...entry, compartmentId: 'B09' } }, reason: 'entry-mismatch', suspicious: true },
    { name: 'rejects a row pointing at another token', facts: { ...good, entry: { ...entry, tokenId: 'tok_000000000999' } }, reason: 'entry-mismatch' },
    { name: 'rejects a revoked token with the revoked message', facts: { ...good, revoked: true }, reason: 'revoked', message: messages.revoked, counts: false },
    { name: 'rejects a used token as not valid', facts: { ...good, used: true }, reason: 'used', message: messages.notValid, counts: true },
    { name: 'says not available yet before the deposit', facts: { ...good, entry: { ...entry, state: 'awaiting-deposit' } }, reason: 'not-yet-available', message: messages.notYetAvailable },
    { name: 'says the pickup period ended for an expired entry', facts: { ...good, entry: { ...entry, state: 'expired' } }, reason: 'expired', message: messages.expired },
    { name: 'gives the generic failure for a collected entry', facts: { ...good, entry: { ...entry, state: 'collected' } }, reason: 'wrong-state', message: messages.notValid, counts: true },
    { name: 'never counts QR rejections against the keypad', facts: { ...good, via: 'qr', used: true }, reason: 'used', counts: false },
    { name: 'rejects a QR token whose compartment holds another parcel', facts: { ...good, via: 'qr', entry: undefined, compartment: { status: 'occupied', parcelId: 'P9' } }, reason: 'elsewhere', message: messages.notValid },
    { name: 'opens for a live code when its compartment holds exactly its parcel', facts: { ...good, compartment: { status: 'occupied', parcelId: 'P1' } } },
    { name: 'refuses a live code whose compartment holds another parcel, without counting it, as a priority matter', facts: { ...good, compartment: { status: 'occupied', parcelId: 'P9' } }, reason: 'elsewhere', message: messages.cannotRelease, counts: false, suspicious: true },
    { name: 'refuses a return drop-off code into a compartment holding another parcel', facts: { ...dropoff, compartment: { status: 'occupied', parcelId: 'P9' } }, reason: 'compartment-unavailable', message: messages.noCompartment, counts: false, suspicious: true },
    { name: 'refuses a return drop-off code into an occupied compartment of unknown content', facts: { ...dropoff, compartment: { status: 'occupied' } }, reason: 'compartment-unavailable', counts: false },
    { name: 'refuses a return drop-off code into an out-of-service compartment', facts: { ...dropoff, compartment: { status: 'out-of-service' } }, reason: 'compartment-unavailable', counts: false },
    { name: 'refuses an uncached return drop-off QR into an occupied compartment', facts: { ...dropoff, via: 'qr', entry: undefined, compartment: { status: 'occupied' } }, reason: 'compartment-unavailable' },
  ];
  for (const c of table) {
    it(c.name, () => {
      const d = decidePickup(c.facts);
      if (c.reason === undefined) {
        expect(d).toEqual({ kind: 'open', tokenId: entry.tokenId, purpose: 'pickup', compartmentId: 'A02', parcelId: 'P1', cached: true });
        return;
      }
      expect(d.kind).toBe('reject');
      if (d.kind !== 'reject') return;
      expect(d.reason).toBe(c.reason);
      if (c.message !== undefined) expect(d.message).toEqual(c.message);
      if (c.counts !== undefined) expect(d.countsAsFailure).toBe(c.counts);
      if (c.suspicious !== undefined) expect(d.suspicious).toBe(c.suspicious);
    });
  }

  it('flags an expired live entry for return', () => {
    const d = decidePickup({ ...good, verification: { ok: false, reason: 'expired' } });
    expect(d.kind === 'reject' && d.expireTokenId).toBe(entry.tokenId);
  });

  it('shows an expired entry as expired but flags nothing for return while device time is provisional', () => {
    const d = decidePickup({ ...good, verification: { ok: false, reason: 'expired' }, timeConfirmed: false });
    expect(d).toMatchObject({ kind: 'reject', reason: 'expired' });
    expect(d.kind === 'reject' && d.expireTokenId).toBeUndefined();
  });

  it('opens the signed compartment for a QR token the cache never got', () => {
    const d = decidePickup({ ...good, via: 'qr', entry: undefined, compartment: { status: 'free' } });
    expect(d).toEqual({ kind: 'open', tokenId: entry.tokenId, purpose: 'pickup', compartmentId: 'A01', parcelId: 'P1', cached: false });
  });

  it('opens a return drop-off into a free compartment, or one already holding exactly that return', () => {
    for (const compartment of [{ status: 'free' as const }, { status: 'occupied' as const, parcelId: 'P1' }]) {
      expect(decidePickup({ ...dropoff, compartment })).toMatchObject({ kind: 'open', purpose: 'return-dropoff', compartmentId: 'A01' });
    }
  });

  it('rejects a QR token for a compartment this locker does not have', () => {
    const d = decidePickup({ ...good, via: 'qr', entry: undefined, compartment: undefined });
    expect(d.kind === 'reject' && d.reason).toBe('not-found');
  });
});
