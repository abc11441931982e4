import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../clock/fake-clock.js';
import type { DoorChange, DoorSensors } from '../types.js';

export interface DoorSensorsHarness {
  sensors: DoorSensors;
  clock: FakeClock;
  /** The physical door opens / closes (the sensor input follows). */
  open(compartmentId: string): void;
  close(compartmentId: string): void;
  /** The input can no longer be read (dead sensor, cut wire). */
  breakSensor(compartmentId: string): void;
  repairSensor(compartmentId: string): void;
}

/**
 * The behaviour every DoorSensors driver must have. Compartments 'A01' and 'A02', doors
 * closed at creation, debounceMs 50, unstableAfterMs 500.
 */
export function doorSensorsContract(name: string, create: () => DoorSensorsHarness): void {
  describe(`DoorSensors contract: ${name}`, () => {
    const watch = (h: DoorSensorsHarness): DoorChange[] => {
      const changes: DoorChange[] = [];
      h.sensors.onChange((c) => changes.push(c));
      return changes;
    };

    it('reports the door state read at start without an event', () => {
      const h = create();
      expect(h.sensors.read('A01')).toBe('closed');
      expect([...h.sensors.compartments()].sort()).toEqual(['A01', 'A02']);
    });

    it('reports an opening only after the debounce window, stamped with the settle time', () => {
      const h = create();
      const changes = watch(h);
      h.open('A01');
      h.clock.advance(49);
      expect(h.sensors.read('A01')).toBe('closed');
      expect(changes).toEqual([]);
      h.clock.advance(1);
      expect(h.sensors.read('A01')).toBe('open');
      expect(changes).toEqual([{ compartmentId: 'A01', state: 'open', at: h.clock.now() }]);
    });

    it('ignores a blip shorter than the debounce window', () => {
      const h = create();
      const changes = watch(h);
      h.open('A01');
      h.clock.advance(20);
      h.close('A01');
      h.clock.advance(200);
      expect(changes).toEqual([]);
      expect(h.sensors.read('A01')).toBe('closed');
    });

    it('settles on the final state after contact bounce', () => {
      const h = create();
      const changes = watch(h);
      for (let i = 0; i < 5; i++) {
        h.open('A01');
        h.clock.advance(5);
        h.close('A01');
        h.clock.advance(5);
      }
      h.open('A01');
      h.clock.advance(50);
      expect(changes.map((c) => c.state)).toEqual(['open']);
    });

    it('reports unknown for a sensor that keeps bouncing, and recovers when it holds still', () => {
      const h = create();
      const changes = watch(h);
      for (let t = 0; t < 600; t += 20) {
        if ((t / 20) % 2 === 0) h.open('A01');
        else h.close('A01');
        h.clock.advance(20);
      }
      expect(h.sensors.read('A01')).toBe('unknown');
      h.close('A01');
      h.clock.advance(50);
      expect(h.sensors.read('A01')).toBe('closed');
      expect(changes.map((c) => c.state)).toEqual(['unknown', 'closed']);
    });

    it('reports unknown for a sensor that cannot be read', () => {
      const h = create();
      const changes = watch(h);
      h.breakSensor('A01');
      h.clock.advance(50);
      expect(h.sensors.read('A01')).toBe('unknown');
      h.repairSensor('A01');
      h.clock.advance(50);
      expect(changes.map((c) => c.state)).toEqual(['unknown', 'closed']);
    });

    it('keeps compartments independent', () => {
      const h = create();
      const changes = watch(h);
      h.open('A02');
      h.clock.advance(50);
      expect(h.sensors.read('A01')).toBe('closed');
      expect(changes.map((c) => c.compartmentId)).toEqual(['A02']);
    });

    it('stops notifying after unsubscribe', () => {
      const h = create();
      const changes: DoorChange[] = [];
      const unsubscribe = h.sensors.onChange((c) => changes.push(c));
      unsubscribe();
      unsubscribe();
      h.open('A01');
      h.clock.advance(50);
      expect(changes).toEqual([]);
    });

    it('reads unknown for a compartment it has no sensor for', () => {
      expect(create().sensors.read('Z99')).toBe('unknown');
    });
  });
}
