import { afterEach, describe, expect, it } from 'vitest';
import { messages } from '../core/display-messages.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  await h.close();
});

async function started(): Promise<Harness> {
  h = new Harness();
  await h.start();
  return h;
}

function flipChar(token: string, index: number): string {
  const c = token[index] === 'A' ? 'B' : 'A';
  return token.slice(0, index) + c + token.slice(index + 1);
}

describe('tokens rejected at the locker', () => {
  const HOUR = 3_600_000;
  const cases: Array<{ name: string; make: (h: Harness) => string }> = [
    { name: 'a forged token signed by an unknown key', make: (x) => x.token('pickup', { cmp: 'A02', par: 'F' }, undefined, new TokenIssuer({ ed: x.ed, kid: 'k1', seed: new Uint8Array(32).fill(9), issuer: 'evil' })).token },
    { name: 'a mutated token', make: (x) => flipChar(x.token('pickup', { cmp: 'A02', par: 'F' }).token, 40) },
    { name: 'an expired token', make: (x) => x.token('pickup', { cmp: 'A02', par: 'F', nbf: x.clock.now() - 3 * HOUR, exp: x.clock.now() - HOUR }).token },
    { name: 'a not-yet-valid token', make: (x) => x.token('pickup', { cmp: 'A02', par: 'F', nbf: x.clock.now() + 2 * HOUR, exp: x.clock.now() + 5 * HOUR }).token },
    { name: 'a token for another locker', make: (x) => x.token('pickup', { cmp: 'A02', par: 'F' }, 'locker-other-9').token },
    { name: 'a service token without a compartment', make: (x) => x.token('service', { par: 'F' }).token },
    { name: 'a truncated token', make: (x) => x.token('pickup', { cmp: 'A02', par: 'F' }).token.slice(0, 60) },
  ];
  for (const c of cases) {
    it(`rejects ${c.name} and pulses nothing`, async () => {
      await started();
      await h.scan(c.make(h));
      await h.advance(100);
      expect(h.pulses()).toBe(0);
      expect(h.runtime.stats().handlerErrors).toBe(0);
    });
  }

  it('rejects tokens signed by a key the backend revoked', async () => {
    await started();
    const { token } = h.token('pickup', { cmp: 'A02', par: 'F' });
    h.applyBatch({ keyring: [{ op: 'revoke', kid: 'k1' }] });
    await h.scan(token);
    await h.advance(100);
    expect(h.pulses()).toBe(0);
    expect(h.lastText()).toBe(messages.notValid.text);
  });

  it('rejects a token of the wrong purpose behind a keypad code', async () => {
    await started();
    const entry = h.addParcel({ parcelId: 'WP', compartmentId: 'A02', code: '19283746' });
    h.deposit(entry);
    // A courier credential planted in a pickup row: verified for purpose 'pickup', refused.
    const courier = h.token('courier', { jti: entry.tokenId });
    h.applyBatch({ upserts: [{ ...entry, token: courier.token }] });
    await h.type('19283746#');
    await h.advance(100);
    expect(h.pulses()).toBe(0);
    expect(h.lastText()).toBe(messages.notValid.text);
    expect(h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 }).map((r) => r.type)).toContain('pickup.suspicious');
  });

  it('rejects a revoked token id', async () => {
    await started();
    const entry = h.addParcel({ parcelId: 'RV', compartmentId: 'A02', code: '13572468' });
    h.deposit(entry);
    h.applyBatch({ revocations: [{ tokenId: entry.tokenId, reason: 'cancelled' }] });
    await h.type('13572468#');
    await h.advance(100);
    expect(h.pulses()).toBe(0);
  });

  it('rejects a cache row re-pointed to another code (cdh mismatch) as suspicious', async () => {
    await started();
    const entry = h.addParcel({ parcelId: 'TP', compartmentId: 'A02', code: '11223344' });
    h.deposit(entry);
    // A tampered row: a valid token under another code's digest.
    h.applyBatch({ upserts: [{ ...entry, tokenId: entry.tokenId, codeDigest: 'f'.repeat(64) }] });
    await h.type('11223344#');
    expect(h.pulses()).toBe(0);
  });
});

describe('replay and lockout across restarts and clock changes', () => {
  it('never opens twice for one token, even after the store and runtime restart', async () => {
    await started();
    const { token } = h.token('pickup', { cmp: 'A02', par: 'RP' });
    await h.scan(token);
    await h.advance(100);
    await h.closeDoor('A02');
    expect(h.pulses('A02')).toBe(1);
    await h.restart();
    await h.scan(token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.lastText()).toBe(messages.notValid.text);
  });

  async function lockOut(): Promise<void> {
    for (let i = 0; i < 4; i++) await h.type(`9182736${String(i)}#`);
    expect(h.lastText()).toContain('Keypad locked');
  }

  async function isLocked(): Promise<boolean> {
    const entry = h.addParcel({ parcelId: `L${String(h.clock.now())}`, compartmentId: 'A03', code: '86427531' });
    h.deposit(entry);
    await h.type('86427531#');
    await h.advance(100);
    const locked = h.lastText().includes('Keypad locked');
    if (!locked) await h.closeDoor('A03');
    return locked;
  }

  it('keeps a lockout through a restart', async () => {
    await started();
    await lockOut();
    await h.restart();
    expect(await isLocked()).toBe(true);
    expect(h.runtime.health().lockout.active).toBe(true);
  });

  it('keeps a lockout when the wall clock jumps a day forward', async () => {
    await started();
    await lockOut();
    h.clock.jumpWall(86_400_000);
    await h.restart();
    expect(await isLocked()).toBe(true);
  });

  it('keeps a lockout when the wall clock jumps back and reports the jump', async () => {
    await started();
    await h.advance(60_000);
    await lockOut();
    h.clock.jumpWall(-86_400_000);
    await h.advance(10_001);
    expect(await isLocked()).toBe(true);
    expect(h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 }).map((r) => r.type)).toContain('clock.jump');
  });

  it('lifts the lockout once its awake time has passed', async () => {
    await started();
    await lockOut();
    await h.advance(31_000);
    expect(await isLocked()).toBe(false);
  });

  it('audits every lockout in the priority lane', async () => {
    await started();
    await lockOut();
    const priority = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 });
    expect(priority.map((r) => r.type)).toContain('keypad.lockout');
    expect(priority.map((r) => r.dataJson).join('')).not.toContain("9182736");
  });
});

describe('bad input', () => {
  it('never crashes on garbage from the keypad or the scanner', async () => {
    await started();
    for (let i = 0; i < 50; i++) {
      h.control.keypad.injectBytes(Uint8Array.from([0, 255, 17, 0x41 + (i % 20), 0x0d]));
      h.control.scanner.injectNoise(30);
      h.control.scanner.scan('v4.public.' + 'x'.repeat(i * 40));
      h.control.scanner.scan('\u0001'.repeat(5));
    }
    h.control.scanner.injectBytes(Buffer.from('A'.repeat(5000) + '\r\n'));
    await h.advance(100);
    expect(h.pulses()).toBe(0);
    expect(h.runtime.stats().handlerErrors).toBe(0);
    expect(h.runtime.stats().rejectedScanner).toBeGreaterThan(0);
    expect(h.auditTypes()).toContain('input.rejection-burst');
    // Still working afterwards.
    const { token } = h.token('pickup', { cmp: 'A01', par: 'OK' });
    await h.scan(token);
    await h.advance(100);
    expect(h.pulses('A01')).toBe(1);
  });

  it('turns an exception inside a handler into a generic error and keeps running', async () => {
    await started();
    const original = h.store.findEntryByCodeDigest.bind(h.store);
    h.store.findEntryByCodeDigest = () => {
      throw new Error('disk on fire');
    };
    await h.type('12121212#');
    expect(h.lastText()).toBe(messages.genericError.text);
    expect(h.runtime.stats().handlerErrors).toBe(1);
    h.store.findEntryByCodeDigest = original;
    await h.type('12121212#');
    expect(h.lastText()).toBe(messages.notValid.text);
  });
});

describe('crash recovery of opens', () => {
  it('finishes an open left unfinished by a crash as unknown and never pulses it again', async () => {
    await started();
    h.store.beginOpen({ opId: 'crashed-op-1', compartmentId: 'A02', reason: 'pickup', tokenId: 'tok_crashcrashcrash', startedAt: h.clock.now() });
    await h.restart();
    expect(h.store.unfinishedOpens()).toEqual([]);
    expect(h.auditTypes()).toContain('door.open-unknown');
    await h.advance(30_000);
    expect(h.pulses()).toBe(0);
  });
});

describe('remote open through the sync port', () => {
  it('pulses at most once per transaction id', async () => {
    await started();
    const port = h.runtime.syncPort();
    const first = port.remoteOpen('tx-1', 'A05', 'support');
    await h.advance(100);
    expect(await first).toEqual({ outcome: 'opened' });
    await h.closeDoor('A05');
    expect(await port.remoteOpen('tx-1', 'A05', 'support')).toEqual({ outcome: 'opened' });
    await h.restart();
    expect(await h.runtime.syncPort().remoteOpen('tx-1', 'A05', 'support')).toEqual({ outcome: 'opened' });
    expect(h.pulses('A05')).toBe(1);
    expect(await h.runtime.syncPort().remoteOpen('tx-2', 'Z99', 'support')).toEqual({ outcome: 'unknown-compartment' });
    expect(h.runtime.syncPort().health().compartments).toHaveLength(5);
  });
});
