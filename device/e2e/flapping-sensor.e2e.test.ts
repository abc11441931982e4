import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// A door sensor that flaps (a loose magnet, a door rattling in the wind) changes state
// several times a second, each change long enough to pass the HAL debouncer. It must be
// reported once as a sensor fault with the count, not as one uncommanded open (priority
// lane, alarm) per edge, while other doors, and this one once it settles, behave as usual.

let h: Harness;
afterEach(async () => {
  await h.close();
});

function records(lane: 'priority' | 'normal', compartmentId: string): Array<{ type: string; data: Record<string, unknown> }> {
  return h.store.readUnackedAudit({ lane, afterSeq: 0, limit: 10_000 })
    .map((r) => ({ type: r.type, data: JSON.parse(r.dataJson) as Record<string, unknown> }))
    .filter((r) => r.data['compartmentId'] === compartmentId);
}

/** The sensor of `compartmentId` reads open, then closed, every `halfMs`, `cycles` times. */
async function flap(compartmentId: string, cycles: number, halfMs: number): Promise<void> {
  for (let i = 0; i < cycles; i++) {
    h.control.injectFault(compartmentId, 'forced-open');
    await h.advance(halfMs);
    h.control.clearFault(compartmentId, 'forced-open');
    h.control.closeDoor(compartmentId);
    await h.advance(halfMs);
  }
}

describe('a flapping door sensor', () => {
  it('is reported once as a sensor fault with the count, not as an uncommanded open per edge', async () => {
    h = new Harness();
    await h.start();
    await flap('A01', 50, 100);

    const priority = records('priority', 'A01');
    // Only the changes before the sixth passed: opens 1, 3 and 5.
    expect(priority.filter((r) => r.type === 'door.uncommanded-open')).toHaveLength(3);
    expect(priority.filter((r) => r.type === 'door.sensor-unknown')).toEqual([
      { type: 'door.sensor-unknown', data: { compartmentId: 'A01', pulsed: false, flapEdges: 6, flapWindowMs: 5_000 } },
    ]);
    expect(records('normal', 'A01').filter((r) => r.type === 'door.closed').length).toBeLessThanOrEqual(3);
  });

  it('pulses a pickup of its compartment meanwhile, ending as unverified (token spent), never as jammed', async () => {
    h = new Harness();
    await h.start();
    const parcel = h.addParcel({ parcelId: 'P-FLAP1', compartmentId: 'A01', code: '13571357' });
    h.deposit(parcel);
    await flap('A01', 5, 100);
    await h.scan(parcel.token);
    await flap('A01', 5, 100);
    expect(h.pulses('A01')).toBe(1);
    expect(h.store.isTokenUsed(parcel.tokenId)).toBe(true);
    expect(h.auditTypes()).not.toContain('door.jammed');
  });

  it('lets other doors work meanwhile and reports this door again once it has settled', async () => {
    h = new Harness();
    await h.start();
    const parcel = h.addParcel({ parcelId: 'P-FLAP', compartmentId: 'A02', code: '24682468' });
    h.deposit(parcel);
    await flap('A01', 10, 100);
    await h.scan(parcel.token);
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.store.findEntryByTokenId(parcel.tokenId)?.state).toBe('collected');
    await flap('A01', 10, 100);
    const before = records('priority', 'A01').length;

    // Quiet for the settle time: trusted again. A real forced open is reported at once.
    await h.advance(10_000);
    expect(records('priority', 'A01')).toHaveLength(before);
    h.control.injectFault('A01', 'forced-open');
    await h.advance(100);
    expect(records('priority', 'A01').slice(before).map((r) => r.type)).toEqual(['door.uncommanded-open']);
  });

  it('reports a sensor toggling every 2.5 s once (the minute-long window), not as an uncommanded open every 5 s', async () => {
    h = new Harness();
    await h.start();
    await flap('A01', 20, 2_500);

    const priority = records('priority', 'A01');
    // Changes 1 to 7 passed (opens 1, 3, 5 and 7); the 8th within a minute is the fault.
    expect(priority.filter((r) => r.type === 'door.uncommanded-open')).toHaveLength(4);
    expect(priority.filter((r) => r.type === 'door.sensor-unknown')).toEqual([
      { type: 'door.sensor-unknown', data: { compartmentId: 'A01', pulsed: false, flapEdges: 8, flapWindowMs: 60_000 } },
    ]);

    // Once still for the quiet period it is trusted again: a real forced open is reported at once.
    await h.advance(10_000);
    const before = records('priority', 'A01').length;
    h.control.injectFault('A01', 'forced-open');
    await h.advance(100);
    expect(records('priority', 'A01').slice(before).map((r) => r.type)).toEqual(['door.uncommanded-open']);
  });

  it('takes its thresholds from the device config', async () => {
    h = new Harness({ config: { doorFlap: { edges: 4, windowMs: 2_000, quietMs: 3_000, slowWindowMs: 20_000 } } });
    await h.start();
    await flap('A01', 10, 100);
    const priority = records('priority', 'A01');
    expect(priority.filter((r) => r.type === 'door.uncommanded-open')).toHaveLength(2);
    expect(priority.filter((r) => r.type === 'door.sensor-unknown')).toEqual([
      { type: 'door.sensor-unknown', data: { compartmentId: 'A01', pulsed: false, flapEdges: 4, flapWindowMs: 2_000 } },
    ]);
    // Settled after 3 s, not the default 10 s.
    await h.advance(3_000);
    const before = priority.length;
    h.control.injectFault('A01', 'forced-open');
    await h.advance(100);
    expect(records('priority', 'A01').slice(before).map((r) => r.type)).toEqual(['door.uncommanded-open']);
  });
});
