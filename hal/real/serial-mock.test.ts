import { SerialPortMock } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../clock/fake-clock.js';
import type { InputRejection, KeyPress, Scan } from '../types.js';
import type { SerialPortOpener } from './serial-connection.js';
import { SerialIndicator, sanitizeDisplayText } from './serial-indicator.js';
import { SerialKeypad } from './serial-keypad.js';
import { SerialScanner } from './serial-scanner.js';

/** Lets the mock binding's promise-based open/read/write settle; no real delay. */
async function until(condition: () => boolean, turns = 200): Promise<void> {
  for (let i = 0; i < turns && !condition(); i++) await new Promise((r) => setImmediate(r));
  if (!condition()) throw new Error('condition not reached');
}

function mockOpener() {
  const opened: SerialPortMock[] = [];
  const openPort: SerialPortOpener = (o) => {
    const port = new SerialPortMock({ ...o, autoOpen: false });
    opened.push(port);
    return port;
  };
  const latest = (): SerialPortMock => {
    const port = opened.at(-1);
    if (port === undefined) throw new Error('no port opened');
    return port;
  };
  return { openPort, opened, latest };
}

afterEach(() => SerialPortMock.binding.reset());

describe('serial keypad on SerialPortMock', () => {
  it('decodes keys sent by the controller', async () => {
    SerialPortMock.binding.createPort('/dev/keypad');
    const { openPort, latest } = mockOpener();
    const clock = new FakeClock();
    const keypad = new SerialKeypad({ path: '/dev/keypad', baudRate: 9600, clock, openPort });
    const keys: KeyPress[] = [];
    keypad.onKey((k) => keys.push(k));
    keypad.start();
    await until(() => latest().isOpen);
    latest().port?.emitData('42#\r\n');
    await until(() => keys.length === 3);
    expect(keys.map((k) => k.key)).toEqual(['4', '2', 'enter']);
    await keypad.stop();
  });

  it('reports garbage as rejections and never throws', async () => {
    SerialPortMock.binding.createPort('/dev/keypad');
    const { openPort, latest } = mockOpener();
    const keypad = new SerialKeypad({ path: '/dev/keypad', baudRate: 9600, clock: new FakeClock(), openPort });
    const rejected: InputRejection[] = [];
    const keys: KeyPress[] = [];
    keypad.onRejected((r) => rejected.push(r));
    keypad.onKey((k) => keys.push(k));
    keypad.start();
    await until(() => latest().isOpen);
    latest().port?.emitData(Buffer.from([0xff, 0x00, 0x80, 0x31]));
    await until(() => keys.length === 1);
    expect(rejected.map((r) => [r.source, r.reason, r.length])).toEqual([['keypad', 'garbage', 3]]);
    await keypad.stop();
  });

  it('reports a port that will not open as io-error and retries with backoff', async () => {
    const { openPort, opened, latest } = mockOpener();
    const clock = new FakeClock();
    const keypad = new SerialKeypad({ path: '/dev/missing', baudRate: 9600, clock, openPort, initialBackoffMs: 100, maxBackoffMs: 400 });
    const rejected: InputRejection[] = [];
    keypad.onRejected((r) => rejected.push(r));
    keypad.start();
    await until(() => rejected.length === 1);
    expect(rejected[0]).toMatchObject({ source: 'keypad', reason: 'io-error', length: 0 });
    await clock.advanceAsync(100);
    await until(() => rejected.length === 2);
    expect(opened).toHaveLength(2);
    expect(clock.nextTimerInMs()).toBe(200);
    SerialPortMock.binding.createPort('/dev/missing');
    await clock.advanceAsync(200);
    await until(() => latest().isOpen);
    expect(opened).toHaveLength(3);
    await keypad.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('reconnects after the port closes underneath it', async () => {
    SerialPortMock.binding.createPort('/dev/keypad');
    const { openPort, opened, latest } = mockOpener();
    const clock = new FakeClock();
    const keypad = new SerialKeypad({ path: '/dev/keypad', baudRate: 9600, clock, openPort, initialBackoffMs: 50 });
    const keys: KeyPress[] = [];
    const rejected: InputRejection[] = [];
    keypad.onKey((k) => keys.push(k));
    keypad.onRejected((r) => rejected.push(r));
    keypad.start();
    await until(() => latest().isOpen);
    latest().close();
    await until(() => rejected.length === 1);
    expect(rejected[0]?.reason).toBe('io-error');
    await clock.advanceAsync(50);
    await until(() => opened.length === 2 && latest().isOpen);
    latest().port?.emitData('7');
    await until(() => keys.length === 1);
    await keypad.stop();
  });
});

describe('serial scanner on SerialPortMock', () => {
  it('frames scans and rejects oversized and garbage lines', async () => {
    SerialPortMock.binding.createPort('/dev/scanner');
    const { openPort, latest } = mockOpener();
    const scanner = new SerialScanner({ path: '/dev/scanner', baudRate: 115200, clock: new FakeClock(), openPort, maxLength: 10 });
    const scans: Scan[] = [];
    const rejected: InputRejection[] = [];
    scanner.onScan((s) => scans.push(s));
    scanner.onRejected((r) => rejected.push(r));
    scanner.start();
    await until(() => latest().isOpen);
    latest().port?.emitData('HELLO\r\n');
    latest().port?.emitData(Buffer.concat([Buffer.alloc(50, 0x41), Buffer.from('\n'), Buffer.from([0x01, 0x02, 0x0a]), Buffer.from('OK\r\n')]));
    await until(() => scans.length === 2);
    expect(scans.map((s) => s.data)).toEqual(['HELLO', 'OK']);
    expect(rejected.map((r) => [r.reason, r.length])).toEqual([['oversized', 50], ['garbage', 2]]);
    expect(scanner.maxLength).toBe(10);
    await scanner.stop();
  });
});

describe('serial indicator on SerialPortMock', () => {
  it('writes MSG and BEEP lines with sanitized text', async () => {
    SerialPortMock.binding.createPort('/dev/display', { record: true });
    const { openPort, latest } = mockOpener();
    const indicator = new SerialIndicator({ path: '/dev/display', baudRate: 9600, clock: new FakeClock(), openPort, maxTextLength: 20 });
    indicator.start();
    await until(() => latest().isOpen);
    indicator.show({ tone: 'prompt', text: 'Tür A03\nist offen' });
    indicator.beep('success');
    await until(() => (latest().port?.recording.toString() ?? '').includes('BEEP'));
    expect(latest().port?.recording.toString()).toBe('MSG prompt Tur A03 ist offen\nBEEP success\n');
    await indicator.stop();
  });

  it('drops output without throwing while the display is disconnected', () => {
    const indicator = new SerialIndicator({ path: '/dev/none', baudRate: 9600, clock: new FakeClock(), openPort: mockOpener().openPort });
    expect(() => indicator.show({ tone: 'error', text: 'x' })).not.toThrow();
    expect(() => indicator.beep('error')).not.toThrow();
  });

  it('caps and cleans display text', () => {
    expect(sanitizeDisplayText('  a\tb\u0007c  ', 64)).toBe('a b?c');
    expect(sanitizeDisplayText('x'.repeat(100), 10)).toBe('xxxxxxx...');
    expect(sanitizeDisplayText('Paket 📦', 64)).toBe('Paket ?');
  });
});

describe('serial connection lifecycle', () => {
  it('closes a port whose open completes after stop()', async () => {
    SerialPortMock.binding.createPort('/dev/keypad');
    const { openPort, latest } = mockOpener();
    const keypad = new SerialKeypad({ path: '/dev/keypad', baudRate: 9600, clock: new FakeClock(), openPort });
    keypad.start();
    await keypad.stop();
    let opened = false;
    latest().on('open', () => (opened = true));
    await until(() => opened);
    await until(() => !latest().isOpen);
  });
});
