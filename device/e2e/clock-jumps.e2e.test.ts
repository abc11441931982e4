import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import { messages } from '../core/display-messages.js';
import { Harness, LOCKER, PEPPER, T0 } from './harness.js';

// Issue 7 part 1: the wall clock set forward or back, and a board whose clock first read
// 2038, through the real runtime (docs/decisions/0019).

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const Y2038 = Date.UTC(2038, 0, 19, 3, 14, 8);
const SWEEP_MS = 300_000;

describe('wall-clock jumps and device time', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  for (const jump of [
    { name: '30 days forward', apply: (c: FakeClock) => c.jumpWall(30 * DAY) },
    { name: 'to 2038-01-19', apply: (c: FakeClock) => c.setWall(Y2038) },
  ]) {
    it(`expires no live parcel when the wall clock is set ${jump.name} and the sweep runs`, async () => {
      h = new Harness();
      await h.start();
      const entry = h.addParcel({ parcelId: 'FJ1', compartmentId: 'A02', code: '31415926', exp: h.clock.now() + 2 * HOUR });
      h.deposit(entry);
      jump.apply(h.clock);
      await h.advance(2 * SWEEP_MS);
      expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('live');
      expect(h.auditTypes()).not.toContain('pickup.expired');
      expect(h.auditTypes()).toContain('clock.jump');
      // The customer with the still-valid code gets the parcel.
      await h.type('31415926#');
      expect(h.pulses('A02')).toBe(1);
      expect(h.lastText()).not.toBe(messages.expired.text);
    });
  }

  it('tells a customer scanning a still-valid QR code nothing about an ended pickup period after a forward jump', async () => {
    h = new Harness();
    await h.start();
    const entry = h.addParcel({ parcelId: 'FJ2', compartmentId: 'A03', code: '27182818', exp: h.clock.now() + 2 * HOUR });
    h.deposit(entry);
    h.clock.jumpWall(30 * DAY);
    await h.advance(20_000);
    await h.scan(entry.token);
    expect(h.pulses('A03')).toBe(1);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).not.toBe('expired');
  });

  it('still expires the parcel once time confirmed by the backend shows the window has ended', async () => {
    h = new Harness({ config: { timeouts: { expiryGraceMs: 600_000 } } });
    await h.start();
    const entry = h.addParcel({ parcelId: 'FJ3', compartmentId: 'A02', code: '16180339', exp: h.clock.now() + HOUR });
    h.deposit(entry);
    h.clock.jumpWall(30 * DAY);
    await h.advance(2 * SWEEP_MS);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('live');
    // Offline, device time counts monotonic time: 2 h later the window is over.
    await h.advance(2 * HOUR);
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('expired');
    expect(h.auditTypes()).toContain('pickup.expired');
  });

  it('opens nothing for a token whose window opens 30 days from now when the wall clock is set 30 days forward', async () => {
    h = new Harness();
    await h.start();
    const digest = codeDigest(PEPPER, LOCKER, '11223344');
    const start = h.clock.now() + 30 * DAY;
    const { jti, token } = h.token('pickup', { cmp: 'A04', par: 'NBF1', cdh: digest, nbf: start, exp: start + 3 * DAY });
    const entry: CodeEntry = { tokenId: jti, token, codeDigest: digest, parcelId: 'NBF1', compartmentId: 'A04', size: 'L', kind: 'pickup' };
    h.applyBatch({ upserts: [entry] });
    h.deposit(entry);
    h.clock.jumpWall(30 * DAY + HOUR);
    await h.advance(20_000);
    await h.scan(token);
    expect(h.lastText()).toBe(messages.notYetAvailable.text);
    await h.type('11223344#');
    expect(h.lastText()).toBe(messages.notYetAvailable.text);
    expect(h.pulses('A04')).toBe(0);
  });

  it('never revives an expired token when the wall clock is set back', async () => {
    h = new Harness({ config: { timeouts: { expiryGraceMs: 600_000 } } });
    await h.start();
    const entry = h.addParcel({ parcelId: 'BJ1', compartmentId: 'A02', code: '99887766', exp: h.clock.now() + HOUR });
    h.deposit(entry);
    await h.advance(HOUR + 60_000);
    h.clock.jumpWall(-DAY);
    await h.advance(20_000);
    await h.scan(entry.token);
    expect(h.lastText()).toBe(messages.expired.text);
    expect(h.pulses('A02')).toBe(0);
  });

  it('reports how long a door stood open, not how far a signed time moved device time meanwhile', async () => {
    h = new Harness();
    await h.start();
    const entry = h.addParcel({ parcelId: 'DO1', compartmentId: 'A02', code: '55443322', exp: h.clock.now() + 10 * DAY });
    h.deposit(entry);
    // A 3-day power cut; the router comes back after the locker. Device time resumes from
    // its checkpoint (3 days behind) and the customer is served offline.
    await h.stopRuntime();
    h.store.close();
    h.clock.jumpWall(3 * DAY);
    await h.start();
    await h.type('55443322#');
    expect(h.pulses('A02')).toBe(1);
    await h.advance(1_000);
    // The network is back: the first signed time catches device time up by 3 days.
    h.runtime.syncPort().observeTrustedTime(h.clock.now(), 'audit-ack');
    expect(h.auditTypes()).toContain('clock.signed-time');
    await h.advance(120_000);
    await h.closeDoor('A02');
    const data = (type: string): { openMs: number } => {
      const records = [...h.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 1_000 }), ...h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1_000 })];
      const record = records.find((r) => r.type === type);
      if (record === undefined) throw new Error(`no ${type} record`);
      return JSON.parse(record.dataJson) as { openMs: number };
    };
    // Open for about two minutes, not three days: an operator reads these.
    expect(data('door.left-open').openMs).toBeGreaterThanOrEqual(120_000);
    expect(data('door.left-open').openMs).toBeLessThan(125_000);
    expect(data('door.closed').openMs).toBeGreaterThanOrEqual(120_000);
    expect(data('door.closed').openMs).toBeLessThan(125_000);
  });

  it('recovers a board that first booted with its clock in 2038 once the clock is corrected and a signed time arrives', async () => {
    const backend: { now?: number } = {};
    const clock = new FakeClock({ wallMs: Y2038 });
    h = new Harness({ clock, backendNow: () => backend.now });
    // First boot, offline: the keyring comes from the installer without a signed time.
    await h.start();
    const digest = codeDigest(PEPPER, LOCKER, '20382038');
    // Tokens are issued on the backend's (correct) clock.
    const { jti, token } = h.token('pickup', { cmp: 'A02', par: 'Y38', cdh: digest, nbf: T0 - HOUR, exp: T0 + 3 * DAY });
    const entry: CodeEntry = { tokenId: jti, token, codeDigest: digest, parcelId: 'Y38', compartmentId: 'A02', size: 'M', kind: 'pickup' };
    h.applyBatch({ upserts: [entry] });
    h.deposit(entry);
    await h.advance(2 * SWEEP_MS);
    // Nothing expires for return on a time no signed message confirmed.
    expect(h.store.findEntryByTokenId(jti)?.state).toBe('live');
    // The operator fixes the wall clock, the locker restarts, and the network comes back.
    clock.setWall(T0 + HOUR);
    await h.restart();
    backend.now = T0 + HOUR;
    h.runtime.syncPort().observeTrustedTime(backend.now, 'audit-ack');
    expect(h.runtime.trustedNow()).toBe(T0 + HOUR);
    await h.type('20382038#');
    expect(h.pulses('A02')).toBe(1);
    expect(h.auditTypes()).toContain('clock.signed-time');
  });
});
