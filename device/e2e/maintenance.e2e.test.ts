import { afterEach, describe, expect, it } from 'vitest';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  await h.close();
});

describe('background duties of the runtime', () => {
  it('flags an uncollected parcel for return after its pickup window plus the grace, without a customer attempt', async () => {
    h = new Harness({ config: { timeouts: { expiryGraceMs: 600_000 } } });
    await h.start();
    const entry = h.addParcel({ parcelId: 'EX1', compartmentId: 'A02', code: '40404040', exp: h.clock.now() + 600_000 });
    h.deposit(entry);
    await h.advance(600_000 + 300_000 + 1000);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('live');
    await h.advance(600_000);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('expired');
    expect(h.auditTypes()).toContain('pickup.expired');
    expect(h.pulses()).toBe(0);
  });

  it('accepts tokens of a key the backend trusts in a later batch, at once', async () => {
    h = new Harness();
    await h.start();
    const rotated = new TokenIssuer({ ed: h.ed, kid: 'k2', seed: new Uint8Array(32).fill(21), issuer: 'backend-test' });
    const { token } = h.token('pickup', { cmp: 'A01', par: 'ROT' }, undefined, rotated);
    await h.scan(token);
    expect(h.pulses()).toBe(0);
    h.applyBatch({ keyring: [{ op: 'trust', kid: 'k2', publicKey: keyToText(rotated.publicKey) }] });
    await h.scan(token);
    await h.advance(100);
    expect(h.pulses('A01')).toBe(1);
  });

  it('supervises a door found open at boot with the left-open alarm', async () => {
    h = new Harness();
    h.control.injectFault('A03', 'forced-open');
    h.control.clearFault('A03', 'forced-open');
    await h.advance(200);
    await h.start();
    await h.advance(120_000 + 100);
    expect(h.auditTypes()).toContain('door.left-open');
    expect(h.auditTypes()).not.toContain('door.uncommanded-open');
  });

  it('audits when the locker holds more live codes than the lockout math assumes', async () => {
    h = new Harness({ config: { lockout: { maxLiveCodes: 2 } } });
    await h.start();
    for (let i = 0; i < 3; i++) h.deposit(h.addParcel({ parcelId: `ODD${String(i)}`, compartmentId: `A0${String(i + 1)}`, code: `5000000${String(i)}` }));
    await h.advance(300_000 + 1000);
    expect(h.auditTypes().filter((t) => t === 'keypad.odds-degraded')).toHaveLength(1);
    expect(h.runtime.health().liveCodes).toBe(3);
  });

  it('counts codes of parcels awaiting deposit toward the live-code odds, since the keypad matches them', async () => {
    h = new Harness({ config: { lockout: { maxLiveCodes: 2 } } });
    await h.start();
    h.deposit(h.addParcel({ parcelId: 'ODD0', compartmentId: 'A01', code: '50000000' }));
    h.addParcel({ parcelId: 'ODD1', compartmentId: 'A02', code: '50000001' });
    expect(h.auditTypes()).not.toContain('keypad.odds-degraded');
    // Not deposited yet, but "not deposited yet" at the keypad tells a guesser he hit a code.
    h.addParcel({ parcelId: 'ODD2', compartmentId: 'A03', code: '50000002' });
    const degraded = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 }).filter((r) => r.type === 'keypad.odds-degraded');
    expect(degraded.map((r) => JSON.parse(r.dataJson) as unknown)).toEqual([{ liveCodes: 3, awaitingDeposit: 2, maxLiveCodes: 2 }]);
    expect(h.runtime.health().liveCodes).toBe(1);
  });

  it('prunes a collected parcel the backend dropped from the set once the retention has passed, on its own schedule', async () => {
    h = new Harness({ config: { retention: { historyMs: 3_600_000, sweepEveryMs: 600_000 } } });
    await h.start();
    const entry = h.addParcel({ parcelId: 'OLD1', compartmentId: 'A01', code: '60000001' });
    h.deposit(entry);
    h.store.transaction(() => {
      h.store.markTokenUsed(entry.tokenId, 'pickup', h.clock.now());
      h.store.markCollected(entry.tokenId, h.clock.now());
    });
    h.applyBatch({ revocations: [{ tokenId: entry.tokenId, reason: 'collected-elsewhere' }] });
    await h.advance(3_600_000);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('collected');
    await h.advance(600_000 + 1000);
    expect(h.store.findEntryByTokenId(entry.tokenId)).toBeUndefined();
    // The token is still valid: its id stays spent and revoked.
    expect(h.store.isTokenUsed(entry.tokenId)).toBe(true);
    expect(h.store.isTokenRevoked(entry.tokenId)).toBe(true);
  });

  it('opens any compartment for a service credential, even one out of service, with a priority audit record', async () => {
    h = new Harness();
    await h.start();
    h.store.setCompartmentStatus('A04', 'out-of-service', { reason: 'jammed' });
    const { token } = h.token('service', { cmp: 'A04', sub: 'tech-3' });
    await h.scan(token);
    await h.advance(100);
    expect(h.pulses('A04')).toBe(1);
    const priority = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 }).map((r) => r.type);
    expect(priority).toContain('service.open');
  });
});
