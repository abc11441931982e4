import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { createSimulatedHardware, type SimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import { powerGate } from './power-gate.js';

const built: SimulatedHardware[] = [];
afterEach(async () => {
  for (const sim of built.splice(0)) await sim.hardware.close();
});

function hardware(clock: FakeClock): SimulatedHardware {
  const sim = createSimulatedHardware({ compartments: [{ id: 'A01' }, { id: 'A02' }], clock, debounceMs: 0 });
  built.push(sim);
  return sim;
}

describe('power gate', () => {
  it('leaves a cut process deaf, blind and timeless while the hardware lives on', () => {
    const clock = new FakeClock();
    const sim = hardware(clock);
    const gate = powerGate(sim.hardware, clock);
    const heard: string[] = [];
    gate.hardware.keypad.onKey((k) => heard.push(`key ${k.key}`));
    gate.hardware.doors.onChange((c) => heard.push(`door ${c.compartmentId} ${c.state}`));
    gate.clock.setTimeout(() => heard.push('timer'), 1_000);
    sim.control.keypad.press('1');
    expect(heard).toEqual(['key 1']);

    gate.cut();
    expect(gate.alive).toBe(false);
    sim.control.keypad.press('2');
    sim.control.injectFault('A02', 'forced-open');
    clock.advance(5_000);
    gate.clock.setTimeout(() => heard.push('late timer'), 1);
    clock.advance(10);
    expect(heard).toEqual(['key 1']);
    // The physical door did open; only the dead process did not hear it.
    expect(sim.control.doorIsOpen('A02')).toBe(true);
  });

  it('drops the relay at the cut and never settles the dead process\'s pulse', async () => {
    const clock = new FakeClock();
    const sim = hardware(clock);
    const gate = powerGate(sim.hardware, clock);
    let settled = false;
    void gate.hardware.relays.pulse('A01', 500).finally(() => {
      settled = true;
    });
    expect(sim.control.energised('A01')).toBe(true);
    gate.cut();
    expect(sim.control.energised('A01')).toBe(false);
    await clock.advanceAsync(1_000);
    expect(settled).toBe(false);
    // A pulse asked after death does nothing at all.
    void gate.hardware.relays.pulse('A02', 500);
    expect(sim.control.energised('A02')).toBe(false);
  });
});
