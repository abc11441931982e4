import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../clock/fake-clock.js';
import { isHalError, relayMayHaveEnergised } from '../hal-error.js';
import type { RelayBank } from '../types.js';

export interface RelayBankHarness {
  bank: RelayBank;
  clock: FakeClock;
  /** Whether the relay is physically energised right now. */
  energised(compartmentId: string): boolean;
  /** Makes the next attempts to drive this relay fail. */
  breakRelay(compartmentId: string): void;
  /** Releases the bank as the hardware's close() would. */
  close(): Promise<void>;
}

/**
 * The behaviour every RelayBank must have, run against each driver so the simulator can
 * never drift from the GPIO driver. Compartments 'A01' and 'A02', maxPulseMs 1000.
 */
export function relayBankContract(name: string, create: () => RelayBankHarness): void {
  describe(`RelayBank contract: ${name}`, () => {
    it('starts with every relay off', () => {
      const h = create();
      expect(h.energised('A01')).toBe(false);
      expect(h.energised('A02')).toBe(false);
      expect([...h.bank.compartments()].sort()).toEqual(['A01', 'A02']);
      expect(h.bank.maxPulseMs).toBe(1000);
    });

    it('energises for the requested time and resolves once the relay is off', async () => {
      const h = create();
      let done = false;
      const pulse = h.bank.pulse('A01', 300).then(() => (done = true));
      expect(h.energised('A01')).toBe(true);
      h.clock.advance(299);
      await Promise.resolve();
      expect(h.energised('A01')).toBe(true);
      expect(done).toBe(false);
      h.clock.advance(1);
      await pulse;
      expect(h.energised('A01')).toBe(false);
    });

    it('enforces maxPulseMs even when the caller asks for more', async () => {
      const h = create();
      const pulse = h.bank.pulse('A01', 3_600_000);
      h.clock.advance(1000);
      await pulse;
      expect(h.energised('A01')).toBe(false);
      expect(h.clock.pendingTimers()).toBe(0);
    });

    it('treats zero, negative and NaN durations as the 1 ms minimum', async () => {
      const h = create();
      for (const ms of [0, -50, Number.NaN]) {
        const pulse = h.bank.pulse('A01', ms);
        expect(h.energised('A01')).toBe(true);
        h.clock.advance(1);
        await pulse;
        expect(h.energised('A01')).toBe(false);
      }
    });

    it('serialises pulses on one compartment', async () => {
      const h = create();
      const first = h.bank.pulse('A01', 100);
      const second = h.bank.pulse('A01', 100);
      h.clock.advance(100);
      await first;
      expect(h.energised('A01')).toBe(true);
      h.clock.advance(100);
      await second;
      expect(h.energised('A01')).toBe(false);
    });

    it('lets pulses on different compartments overlap', async () => {
      const h = create();
      const a = h.bank.pulse('A01', 100);
      const b = h.bank.pulse('A02', 100);
      expect(h.energised('A01') && h.energised('A02')).toBe(true);
      h.clock.advance(100);
      await Promise.all([a, b]);
    });

    it('rejects an unknown compartment with RELAY_UNKNOWN_COMPARTMENT', async () => {
      const h = create();
      await expect(h.bank.pulse('Z99', 100)).rejects.toSatisfy((e) => isHalError(e, 'RELAY_UNKNOWN_COMPARTMENT'));
    });

    it('rejects with RELAY_FAULT and leaves the relay off when it cannot be driven', async () => {
      const h = create();
      h.breakRelay('A01');
      await expect(h.bank.pulse('A01', 100)).rejects.toSatisfy((e) => isHalError(e, 'RELAY_FAULT') && !relayMayHaveEnergised(e));
      expect(h.energised('A01')).toBe(false);
      const other = h.bank.pulse('A02', 10);
      h.clock.advance(10);
      await other;
    });

    it('switches everything off with allOff, mid-pulse', async () => {
      const h = create();
      void h.bank.pulse('A01', 900);
      void h.bank.pulse('A02', 900);
      await h.bank.allOff();
      expect(h.energised('A01')).toBe(false);
      expect(h.energised('A02')).toBe(false);
      h.clock.advance(900);
    });

    it('leaves every relay off after close, even mid-pulse', async () => {
      const h = create();
      const cut = h.bank.pulse('A01', 900);
      const queued = h.bank.pulse('A01', 900);
      await h.close();
      expect(h.energised('A01')).toBe(false);
      await expect(cut).rejects.toSatisfy((e) => isHalError(e, 'HAL_CLOSED'));
      await expect(queued).rejects.toSatisfy((e) => isHalError(e, 'HAL_CLOSED'));
      expect(h.clock.pendingTimers()).toBe(0);
      await expect(h.bank.pulse('A01', 10)).rejects.toSatisfy((e) => isHalError(e, 'HAL_CLOSED'));
    });

    it('says a pulse cut short by close may have energised the relay, and a queued one did not', async () => {
      const h = create();
      const cut = h.bank.pulse('A01', 900);
      const queued = h.bank.pulse('A01', 900);
      await h.close();
      await expect(cut).rejects.toSatisfy((e) => relayMayHaveEnergised(e));
      await expect(queued).rejects.toSatisfy((e) => isHalError(e, 'HAL_CLOSED') && !relayMayHaveEnergised(e));
      await expect(h.bank.pulse('A01', 10)).rejects.toSatisfy((e) => isHalError(e, 'HAL_CLOSED'));
    });
  });
}
