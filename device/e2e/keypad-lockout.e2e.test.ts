import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// Review #7: a correct code in a wrong state is neither a failure nor a success. It used to
// be settled as a success, which reset the escalation, so an attacker holding one code of
// his own (not deposited yet) could guess without ever being locked out.

let h: Harness;

afterEach(async () => {
  await h.close();
});

describe('keypad lockout escalation', () => {
  it('locks the keypad out even when a guesser interleaves his own not-yet-deposited code between guesses', async () => {
    h = new Harness();
    await h.start();
    h.addParcel({ parcelId: 'MINE', compartmentId: 'A03', code: '55555555' });
    let lockedSeen = false;
    for (let round = 0; round < 3 && !lockedSeen; round++) {
      for (let i = 0; i < 3; i++) {
        await h.type(`9${String(round)}${String(i)}12345#`);
        if (h.lastText().includes('locked')) lockedSeen = true;
      }
      await h.type('55555555#');
      if (h.lastText().includes('locked')) lockedSeen = true;
      await h.advance(1000);
    }
    expect(lockedSeen).toBe(true);
    expect(h.runtime.health().lockout.active).toBe(true);
    expect(h.auditTypes()).toContain('keypad.lockout');
    expect(h.pulses()).toBe(0);
  });

  it('still says "not available yet" for the correct code of a parcel awaiting deposit, without counting it', async () => {
    h = new Harness();
    await h.start();
    h.addParcel({ parcelId: 'MINE', compartmentId: 'A03', code: '55555555' });
    for (let i = 0; i < 6; i++) await h.type('55555555#');
    expect(h.lastText()).toContain('not available yet');
    expect(h.runtime.health().lockout).toMatchObject({ active: false, failures: 0 });
  });

  it('lets the first 3 wrong codes through and locks on the 4th for 30 s, saying 30 s (docs/operations.md, docs/security.md)', async () => {
    h = new Harness();
    await h.start();
    for (let i = 1; i <= 3; i++) {
      await h.type(`9${String(i)}012345#`);
      expect(h.lastText()).toBe('Code not valid. Please check and try again.');
      expect(h.runtime.health().lockout.active).toBe(false);
    }
    await h.type('94012345#');
    expect(h.lastText()).toBe('Keypad locked after too many wrong codes. Try again in 30 s.');
    expect(h.runtime.health().lockout).toMatchObject({ active: true, failures: 4 });
    await h.advance(29_000);
    await h.type('95012345#');
    expect(h.lastText()).toBe('Keypad locked after too many wrong codes. Try again in 1 s.');
    await h.advance(1_000);
    expect(h.runtime.health().lockout.active).toBe(false);
  });
});
