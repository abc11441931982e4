import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock/fake-clock.js';
import { isHalError } from '../hal-error.js';
import type { DoorChange } from '../types.js';
import { createSimulatedHardware } from './simulated-hardware.js';

function setup(behaviour: { autoOpenOnPulse?: boolean; autoCloseAfterMs?: number } = {}) {
  const clock = new FakeClock({ wallMs: 1_000_000 });
  const sim = createSimulatedHardware({
    compartments: [{ id: 'A01' }, { id: 'A02' }],
    clock,
    maxPulseMs: 1000,
    debounceMs: 50,
    defaultBehaviour: behaviour,
  });
  const changes: DoorChange[] = [];
  sim.hardware.doors.onChange((c) => changes.push(c));
  return { clock, ...sim, changes };
}

describe('simulated locker mechanics', () => {
  it('starts with every door closed, latched and reported closed', () => {
    const { hardware, control } = setup();
    expect(hardware.kind).toBe('simulated');
    expect(hardware.doors.read('A01')).toBe('closed');
    expect(control.latched('A01')).toBe(true);
    expect(control.doorIsOpen('A01')).toBe(false);
  });

  it('opens the door when a waiting person pulls it as the latch releases', async () => {
    const { clock, hardware, control, changes } = setup();
    const pulse = hardware.relays.pulse('A01', 300);
    expect(control.energised('A01')).toBe(true);
    expect(control.doorIsOpen('A01')).toBe(true);
    clock.advance(300);
    await pulse;
    expect(control.energised('A01')).toBe(false);
    expect(changes).toEqual([{ compartmentId: 'A01', state: 'open', at: 1_000_050 }]);
  });

  it('keeps the door shut after a pulse when nobody pulls it, and re-latches', async () => {
    const { clock, hardware, control } = setup({ autoOpenOnPulse: false });
    const pulse = hardware.relays.pulse('A01', 300);
    expect(control.latched('A01')).toBe(false);
    clock.advance(300);
    await pulse;
    expect(control.pullDoor('A01')).toBe(false);
    expect(control.latched('A01')).toBe(true);
  });

  it('lets a person pull the door only while the relay is energised', () => {
    const { clock, hardware, control } = setup({ autoOpenOnPulse: false });
    expect(control.pullDoor('A01')).toBe(false);
    void hardware.relays.pulse('A01', 300);
    clock.advance(100);
    expect(control.pullDoor('A01')).toBe(true);
    clock.advance(400);
    expect(control.doorIsOpen('A01')).toBe(true);
    expect(control.latched('A01')).toBe(false);
  });

  it('re-latches when the door is closed by hand', () => {
    const { clock, hardware, control, changes } = setup();
    void hardware.relays.pulse('A01', 100);
    clock.advance(200);
    control.closeDoor('A01');
    clock.advance(60);
    expect(control.latched('A01')).toBe(true);
    expect(changes.map((c) => c.state)).toEqual(['open', 'closed']);
  });

  it('closes the door by itself after autoCloseAfterMs', () => {
    const { clock, hardware, control } = setup({ autoCloseAfterMs: 5000 });
    void hardware.relays.pulse('A01', 100);
    clock.advance(4999);
    expect(control.doorIsOpen('A01')).toBe(true);
    clock.advance(1);
    expect(control.doorIsOpen('A01')).toBe(false);
    clock.advance(50);
    expect(hardware.doors.read('A01')).toBe('closed');
  });

  it('does not release the latch for a pulse shorter than the pull-in time', async () => {
    const clock = new FakeClock();
    const { hardware, control } = createSimulatedHardware({ compartments: [{ id: 'A01' }], clock, pulseMs: 50 });
    const short = hardware.relays.pulse('A01', 20);
    clock.advance(20);
    await short;
    expect(control.doorIsOpen('A01')).toBe(false);
    const long = hardware.relays.pulse('A01', 200);
    clock.advance(200);
    await long;
    expect(control.doorIsOpen('A01')).toBe(true);
  });
});

describe('simulated relays', () => {
  it('clamps a pulse to maxPulseMs and records requested and actual durations', async () => {
    const { clock, hardware, control } = setup();
    const pulse = hardware.relays.pulse('A01', 60_000);
    clock.advance(1000);
    await pulse;
    expect(control.energised('A01')).toBe(false);
    expect(control.pulses('A01')).toEqual([
      { compartmentId: 'A01', requestedMs: 60_000, actualMs: 1000, startedAt: 1_000_000, endedAt: 1_001_000, outcome: 'ok' },
    ]);
  });

  it('serialises pulses on one compartment and overlaps different ones', async () => {
    const { clock, hardware, control } = setup();
    const first = hardware.relays.pulse('A01', 100);
    const second = hardware.relays.pulse('A01', 100);
    const other = hardware.relays.pulse('A02', 100);
    expect(control.energised('A02')).toBe(true);
    clock.advance(200);
    await Promise.all([first, second, other]);
    const starts = control.pulses('A01').map((p) => p.startedAt);
    expect(starts).toEqual([1_000_000, 1_000_100]);
    expect(control.pulses('A02')[0]?.startedAt).toBe(1_000_000);
  });

  it('rejects an unknown compartment with RELAY_UNKNOWN_COMPARTMENT', async () => {
    const { hardware } = setup();
    await expect(hardware.relays.pulse('Z99', 100)).rejects.toSatisfy((e) => isHalError(e, 'RELAY_UNKNOWN_COMPARTMENT'));
  });

  it('switches every relay off with allOff', async () => {
    const { hardware, control } = setup();
    void hardware.relays.pulse('A01', 500);
    void hardware.relays.pulse('A02', 500);
    await hardware.relays.allOff();
    expect(control.energised('A01')).toBe(false);
    expect(control.energised('A02')).toBe(false);
  });

  it('turns relays off and rejects later pulses once closed, and closes twice safely', async () => {
    const { hardware, control } = setup();
    const cut = hardware.relays.pulse('A01', 500);
    await hardware.close();
    await expect(cut).rejects.toSatisfy((e) => isHalError(e, 'HAL_CLOSED'));
    expect(control.pulses('A01')[0]?.outcome).toBe('cut-short');
    await hardware.close();
    expect(control.energised('A01')).toBe(false);
    await expect(hardware.relays.pulse('A01', 100)).rejects.toSatisfy((e) => isHalError(e, 'HAL_CLOSED'));
  });
});

describe('simulated faults', () => {
  it('stuck-relay: records the pulse but the latch never releases', async () => {
    const { clock, hardware, control } = setup();
    control.injectFault('A01', 'stuck-relay');
    const pulse = hardware.relays.pulse('A01', 200);
    clock.advance(200);
    await pulse;
    expect(control.pulses('A01')).toHaveLength(1);
    expect(control.doorIsOpen('A01')).toBe(false);
    expect(control.latched('A01')).toBe(true);
  });

  it('relay-dead: the pulse rejects with RELAY_FAULT and the relay stays off', async () => {
    const { hardware, control } = setup();
    control.injectFault('A01', 'relay-dead');
    await expect(hardware.relays.pulse('A01', 200)).rejects.toSatisfy((e) => isHalError(e, 'RELAY_FAULT'));
    expect(control.energised('A01')).toBe(false);
    expect(control.pulses('A01')[0]?.outcome).toBe('fault');
    control.clearFault('A01', 'relay-dead');
    expect(control.faults('A01')).toEqual([]);
  });

  it('door-jammed: the latch releases but the door does not open', async () => {
    const { clock, hardware, control, changes } = setup();
    control.injectFault('A01', 'door-jammed');
    const pulse = hardware.relays.pulse('A01', 200);
    expect(control.latched('A01')).toBe(false);
    expect(control.pullDoor('A01')).toBe(false);
    clock.advance(300);
    await pulse;
    expect(changes).toEqual([]);
  });

  it('sensor-dead: the door reads unknown once the debounce window passes', () => {
    const { clock, hardware, control, changes } = setup();
    control.injectFault('A01', 'sensor-dead');
    clock.advance(49);
    expect(hardware.doors.read('A01')).toBe('closed');
    clock.advance(1);
    expect(hardware.doors.read('A01')).toBe('unknown');
    control.clearFault('A01');
    clock.advance(50);
    expect(changes.map((c) => c.state)).toEqual(['unknown', 'closed']);
  });

  it('sensor-bouncing: no spurious open, then unknown once it keeps bouncing', () => {
    const { clock, hardware, control, changes } = setup();
    control.injectFault('A01', 'sensor-bouncing');
    clock.advance(400);
    expect(changes).toEqual([]);
    expect(hardware.doors.read('A01')).toBe('closed');
    clock.advance(200);
    expect(hardware.doors.read('A01')).toBe('unknown');
    control.clearFault('A01', 'sensor-bouncing');
    clock.advance(60);
    expect(hardware.doors.read('A01')).toBe('closed');
    expect(changes.map((c) => c.state)).toEqual(['unknown', 'closed']);
  });

  it('sensor-stuck-closed: reports closed even though the door is open', () => {
    const { clock, hardware, control } = setup();
    control.injectFault('A01', 'sensor-stuck-closed');
    void hardware.relays.pulse('A01', 100);
    clock.advance(200);
    expect(control.doorIsOpen('A01')).toBe(true);
    expect(hardware.doors.read('A01')).toBe('closed');
  });

  it('forced-open: the door opens with no pulse and stays open until closed', () => {
    const { clock, hardware, control, changes } = setup();
    control.injectFault('A01', 'forced-open');
    clock.advance(50);
    expect(control.pulses()).toEqual([]);
    expect(changes).toEqual([{ compartmentId: 'A01', state: 'open', at: 1_000_050 }]);
    control.clearFault('A01', 'forced-open');
    expect(control.doorIsOpen('A01')).toBe(true);
    control.closeDoor('A01');
    clock.advance(50);
    expect(hardware.doors.read('A01')).toBe('closed');
    expect(control.latched('A01')).toBe(true);
  });

  it('faults are per compartment', () => {
    const { control } = setup();
    control.injectFault('A01', 'door-jammed');
    expect(control.faults('A02')).toEqual([]);
  });
});

describe('simulated history', () => {
  it('keeps only the newest historyLimit pulses and indicator events', async () => {
    const clock = new FakeClock();
    const { hardware, control } = createSimulatedHardware({ compartments: [{ id: 'A01' }], clock, historyLimit: 3 });
    for (let i = 0; i < 5; i++) {
      const pulse = hardware.relays.pulse('A01', i + 1);
      clock.advance(10);
      await pulse;
      hardware.indicator.beep('key');
    }
    expect(control.pulses().map((p) => p.requestedMs)).toEqual([3, 4, 5]);
    expect(control.indicator.history()).toHaveLength(3);
  });
});
