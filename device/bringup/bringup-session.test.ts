import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { listSerialPorts, type SerialPortListing } from '@locker/hal/real/list-serial-ports.js';
import { createSimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import { runBringup } from './bringup-session.js';
import { createPrompter } from './prompter.js';
import { formatResultTable, overallPassed, type CheckResult } from './result-table.js';

// The bring-up tool driven like a technician would, against the simulated hardware: answers
// on an input stream, keys and scans through the simulator, time on a FakeClock.

const PULSE_MS = 200;
const WAIT_MS = 30_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const listing: SerialPortListing = { source: 'dev', fallbackReason: 'spawn udevadm ENOENT', ports: [{ path: '/dev/ttyUSB0' }, { path: '/dev/ttyUSB1' }] };

function bench(answers: string[], options: { endInput?: boolean; expectedPorts?: string[] } = {}) {
  const clock = new FakeClock();
  const { hardware, control } = createSimulatedHardware({
    compartments: [{ id: 'A01' }, { id: 'A02' }],
    clock,
    defaultBehaviour: { autoOpenOnPulse: false },
  });
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (b: Buffer) => (text += b.toString()));
  input.write(answers.map((a) => `${a}\n`).join(''));
  if (options.endInput === true) input.end();
  const prompter = createPrompter(input, output);
  const session = runBringup({
    hardware, prompter, clock, listPorts: () => Promise.resolve(listing),
    expectedPorts: options.expectedPorts ?? [], pulseMs: PULSE_MS, inputWaitMs: WAIT_MS,
  }).finally(() => prompter.close());
  return { clock, control, session, out: () => text };
}

const row = (results: CheckResult[], check: string): CheckResult | undefined => results.find((r) => r.check === check);

describe('bring-up tool', () => {
  it('pulses each relay in turn on confirmation, reads each door, echoes keys and a scan, and passes', async () => {
    const { clock, control, session, out } = bench(['y', 'y', 'y', 'y', 'y', 'y']);
    await until(() => out().includes('pulsing A01'), 'the first pulse');
    expect(control.pulses().map((p) => p.compartmentId)).toEqual(['A01']);
    clock.advance(PULSE_MS);
    await until(() => out().includes('pulsing A02'), 'the second pulse');
    expect(control.pulses().map((p) => p.compartmentId)).toEqual(['A01', 'A02']);
    clock.advance(PULSE_MS);
    await until(() => out().includes('Press a few keys'), 'the keypad prompt');
    control.keypad.press('42#');
    await until(() => out().includes('Scan any'), 'the scanner prompt');
    control.scanner.scan('BRINGUP-TEST-0001');
    const results = await session;

    expect(out()).toContain('  /dev/ttyUSB0');
    expect(out()).toContain('from /dev: spawn udevadm ENOENT');
    expect(out()).toContain('  key: 4\n  key: 2\n  key: enter');
    expect(out()).toContain('scan: 17 characters, starting "BRINGUP-"');
    expect(out()).not.toContain('BRINGUP-TEST-0001');
    expect(results.map((r) => [r.check, r.status])).toEqual([
      ['serial ports', 'info'],
      ['relay A01', 'pass'], ['relay A02', 'pass'],
      ['door A01', 'pass'], ['door A02', 'pass'],
      ['keypad', 'pass'], ['scanner', 'pass'],
    ]);
    expect(control.pulses().every((p) => p.endedAt !== undefined)).toBe(true);
    expect(overallPassed(results)).toBe(true);
    expect(formatResultTable(results)).toMatch(/relay A01\s+PASS\s+pulsed 200 ms, release seen[\s\S]*BRING-UP PASSED$/);
  });

  it('fails a dead door sensor, a release nobody saw, a missing port and a silent keypad, and skips an unconfirmed relay', async () => {
    const { clock, control, session, out } = bench(['n', 'y', 'n', 'y'], { expectedPorts: ['/dev/ttyUSB0', '/dev/ttyUSB2'] });
    control.injectFault('A02', 'sensor-dead');
    await until(() => out().includes('pulsing A02'), 'the pulse of A02');
    clock.advance(PULSE_MS);
    await until(() => out().includes('Press a few keys'), 'the keypad prompt');
    clock.advance(WAIT_MS);
    await until(() => out().includes('Scan any'), 'the scanner prompt');
    control.scanner.scan('X');
    const results = await session;

    expect(control.pulses().map((p) => p.compartmentId)).toEqual(['A02']);
    expect(row(results, 'relay A01')?.status).toBe('skipped');
    expect(row(results, 'relay A02')).toMatchObject({ status: 'fail', detail: 'pulsed, but no release seen' });
    expect(row(results, 'door A01')?.status).toBe('pass');
    expect(row(results, 'door A02')).toMatchObject({ status: 'fail' });
    expect(row(results, 'port /dev/ttyUSB0')?.status).toBe('pass');
    expect(row(results, 'port /dev/ttyUSB2')?.status).toBe('fail');
    expect(row(results, 'keypad')?.status).toBe('fail');
    expect(formatResultTable(results)).toMatch(/BRING-UP FAILED$/);
  });

  it('pulses nothing when its input ends before any confirmation', async () => {
    const { clock, control, session, out } = bench([], { endInput: true });
    await until(() => out().includes('Press a few keys'), 'the keypad prompt');
    clock.advance(WAIT_MS);
    await until(() => out().includes('Scan any'), 'the scanner prompt');
    clock.advance(WAIT_MS);
    const results = await session;
    expect(control.pulses()).toEqual([]);
    expect(row(results, 'relay A01')?.status).toBe('skipped');
    expect(overallPassed(results)).toBe(false);
  });
});

describe('serial port listing', () => {
  it('falls back to /dev without failing when udevadm is absent', async () => {
    const dev = mkdtempSync(join(tmpdir(), 'fake-dev-'));
    dirs.push(dev);
    for (const n of ['ttyUSB0', 'ttyACM0', 'ttyS0', 'null']) writeFileSync(join(dev, n), '');
    mkdirSync(join(dev, 'serial', 'by-id'), { recursive: true });
    symlinkSync('../../ttyUSB0', join(dev, 'serial', 'by-id', 'usb-FTDI_FT232R-if00-port0'));
    const udevList = (): Promise<never> => Promise.reject(new Error('spawn udevadm ENOENT'));
    const result = await listSerialPorts({ udevList, devDir: dev });
    expect(result.source).toBe('dev');
    expect(result.fallbackReason).toBe('spawn udevadm ENOENT');
    expect(result.ports).toEqual([
      { path: join(dev, 'ttyACM0') },
      { path: join(dev, 'ttyUSB0'), description: 'usb-FTDI_FT232R-if00-port0' },
    ]);
  });

  it('uses the udev listing when it works', async () => {
    const udevList = () => Promise.resolve([{ path: '/dev/ttyUSB0', manufacturer: 'FTDI', vendorId: '0403', productId: '6001' }]);
    expect(await listSerialPorts({ udevList })).toEqual({ source: 'udev', ports: [{ path: '/dev/ttyUSB0', description: 'FTDI 0403:6001' }] });
  });
});
