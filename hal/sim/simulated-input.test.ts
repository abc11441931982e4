import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock/fake-clock.js';
import type { InputRejection, KeyPress, Scan } from '../types.js';
import { createSimulatedHardware } from './simulated-hardware.js';

function setup() {
  const clock = new FakeClock({ wallMs: 1_000_000 });
  return { clock, ...createSimulatedHardware({ compartments: [{ id: 'A01' }], clock }) };
}

describe('simulated input and indicator', () => {
  it('types a code on the keypad through the keypad protocol', () => {
    const { clock, hardware, control } = setup();
    const keys: KeyPress[] = [];
    hardware.keypad.onKey((k) => keys.push(k));
    control.keypad.press('12#');
    control.keypad.pressKey('cancel');
    expect(keys.map((k) => k.key)).toEqual(['1', '2', 'enter', 'cancel']);
    expect(keys[0]?.at).toBe(clock.now());
  });

  it('reports keypad garbage as one rejection without its content', () => {
    const { hardware, control } = setup();
    const rejected: InputRejection[] = [];
    hardware.keypad.onRejected((r) => rejected.push(r));
    control.keypad.injectBytes(Uint8Array.of(0xff, 0xfe, 0x00));
    expect(rejected).toEqual([{ source: 'keypad', reason: 'garbage', length: 3, at: 1_000_000 }]);
  });

  it('delivers a whole scan after a fragment the scanner never terminated', () => {
    const { clock, hardware, control } = setup();
    const scans: Scan[] = [];
    const rejected: InputRejection[] = [];
    hardware.scanner.onScan((s) => scans.push(s));
    hardware.scanner.onRejected((r) => rejected.push(r));
    control.scanner.injectBytes(Buffer.from('PARCEL-4', 'latin1'));
    clock.advance(3_000);
    control.scanner.scan('PARCEL-42');
    expect(scans.map((s) => s.data)).toEqual(['PARCEL-42']);
    expect(rejected.map((r) => [r.reason, r.length])).toEqual([['framing', 8]]);
  });

  it('delivers a scan and rejects noise and oversized lines', () => {
    const clock = new FakeClock();
    const { hardware, control } = createSimulatedHardware({ compartments: [{ id: 'A01' }], clock, scannerMaxLength: 8 });
    const scans: Scan[] = [];
    const rejected: InputRejection[] = [];
    hardware.scanner.onScan((s) => scans.push(s));
    hardware.scanner.onRejected((r) => rejected.push(r));
    control.scanner.scan('ABC123');
    control.scanner.injectNoise(5);
    control.scanner.scan('123456789');
    expect(scans.map((s) => s.data)).toEqual(['ABC123']);
    expect(rejected.map((r) => [r.reason, r.length])).toEqual([['garbage', 5], ['oversized', 9]]);
    expect(hardware.scanner.maxLength).toBe(8);
  });

  it('records every message and beep with the time it happened', () => {
    const { clock, hardware, control } = setup();
    hardware.indicator.show({ tone: 'prompt', text: 'Enter your code' });
    clock.advance(10);
    hardware.indicator.beep('key');
    expect(control.indicator.history()).toEqual([
      { type: 'message', message: { tone: 'prompt', text: 'Enter your code' }, at: 1_000_000 },
      { type: 'beep', pattern: 'key', at: 1_000_010 },
    ]);
    expect(control.indicator.last()).toEqual({ type: 'beep', pattern: 'key', at: 1_000_010 });
    expect(control.indicator.lastMessage()?.text).toBe('Enter your code');
  });

  it('keeps delivering to other listeners when one throws', () => {
    const { hardware, control } = setup();
    const keys: string[] = [];
    hardware.keypad.onKey(() => {
      throw new Error('consumer bug');
    });
    hardware.keypad.onKey((k) => keys.push(k.key));
    control.keypad.press('5');
    expect(keys).toEqual(['5']);
  });
});
