import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemClock } from '../clock/system-clock.js';
import type { InputRejection, KeyPress, Scan } from '../types.js';
import { SerialIndicator } from './serial-indicator.js';
import { SerialKeypad } from './serial-keypad.js';
import { SerialScanner } from './serial-scanner.js';

// Real PTYs through the real SerialPort binding: the closest we get to a board without one.
// A machine without socat skips with a reason; on CI a missing socat is a failure.

function socatAvailable(): boolean {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const hasSocat = socatAvailable();
if (!hasSocat && process.env['CI'] !== undefined) {
  throw new Error('socat is required on CI for the serial PTY tests');
}
if (!hasSocat) console.warn('skipping serial PTY tests: socat is not installed');

/** Waits on real I/O (a PTY appearing, bytes crossing it), polling every few ms. */
async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for serial I/O');
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface PtyPair {
  device: string;
  peer: string;
  socat: ChildProcess;
  dir: string;
}

async function openPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'hal-pty-'));
  const device = join(dir, 'device');
  const peer = join(dir, 'peer');
  const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${peer}`], {
    stdio: 'ignore',
  });
  await until(() => existsSync(device) && existsSync(peer));
  return { device, peer, socat, dir };
}

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill();
  });
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The test's end of the PTY pair, open, and closed after the test. */
async function openPeer(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  // The test's end of the line, not the driver under test: a write still in flight when the
  // cleanup closes it fails (EBADF), and without a listener that 'error' would be an
  // uncaught exception charged to whichever file runs next in the worker.
  port.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  cleanups.push(() => new Promise<void>((r) => port.close(() => r())));
  return port;
}

function track(pair: PtyPair): void {
  cleanups.push(async () => {
    await killAndWait(pair.socat);
    rmSync(pair.dir, { recursive: true, force: true });
  });
}

describe.skipIf(!hasSocat)('serial drivers on a real PTY pair (socat)', () => {
  it('the keypad decodes keys and reports garbage without throwing', async () => {
    const pair = await openPtyPair();
    track(pair);
    const keypad = new SerialKeypad({ path: pair.device, baudRate: 9600, clock: new SystemClock() });
    cleanups.push(() => keypad.stop());
    const keys: KeyPress[] = [];
    const rejected: InputRejection[] = [];
    keypad.onKey((k) => keys.push(k));
    keypad.onRejected((r) => rejected.push(r));
    keypad.start();
    const peer = await openPeer(pair.peer);
    // Give the driver's open a moment to finish before the bytes arrive.
    await new Promise((r) => setTimeout(r, 100));
    peer.write(Buffer.concat([Buffer.from('12'), Buffer.from([0xfe, 0xff]), Buffer.from('#')]));
    await until(() => keys.length === 3 && rejected.length >= 1);
    expect(keys.map((k) => k.key)).toEqual(['1', '2', 'enter']);
    expect(rejected.every((r) => r.reason === 'garbage')).toBe(true);
  });

  it('the scanner frames lines across a real PTY', async () => {
    const pair = await openPtyPair();
    track(pair);
    const scanner = new SerialScanner({ path: pair.device, baudRate: 9600, clock: new SystemClock(), maxLength: 64 });
    cleanups.push(() => scanner.stop());
    const scans: Scan[] = [];
    const rejected: InputRejection[] = [];
    scanner.onScan((s) => scans.push(s));
    scanner.onRejected((r) => rejected.push(r));
    scanner.start();
    const peer = await openPeer(pair.peer);
    await new Promise((r) => setTimeout(r, 100));
    peer.write(`v4.public.abc\r\n${'X'.repeat(100)}\nQR-2\n`);
    await until(() => scans.length === 2 && rejected.length === 1);
    expect(scans.map((s) => s.data)).toEqual(['v4.public.abc', 'QR-2']);
    expect(rejected[0]).toMatchObject({ reason: 'oversized', length: 100 });
  });

  it('the indicator writes protocol lines the display controller can read', async () => {
    const pair = await openPtyPair();
    track(pair);
    const peer = await openPeer(pair.peer);
    let received = '';
    peer.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const indicator = new SerialIndicator({ path: pair.device, baudRate: 9600, clock: new SystemClock() });
    cleanups.push(() => indicator.stop());
    // Shown before the port is open: re-sent once it opens, so the screen is never stale.
    indicator.show({ tone: 'idle', text: 'Welcome' });
    indicator.start();
    await until(() => received.includes('MSG idle Welcome\n'));
    indicator.beep('alarm');
    await until(() => received.includes('BEEP alarm\n'));
  });

  it('reports a hung-up line as io-error and reopens it, instead of re-reading end of file forever', async () => {
    // An unplugged USB adapter's tty is hung up: read(2) returns 0 from then on. A PTY whose
    // termios say "return at once" (min 0, time 0) answers an empty read with 0 the same way,
    // without the privilege a real vhangup(2) needs. The old binding re-read forever: a core
    // busy, the heap growing until the process died, no io-error and no reconnect.
    const pair = await openPtyPair();
    track(pair);
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const scanner = new SerialScanner({ path: pair.device, baudRate: 9600, clock: new SystemClock(), initialBackoffMs: 20, maxBackoffMs: 50, logger });
    cleanups.push(() => scanner.stop());
    const scans: Scan[] = [];
    const rejected: InputRejection[] = [];
    scanner.onScan((s) => scans.push(s));
    scanner.onRejected((r) => rejected.push(r));
    scanner.start();
    const peer = await openPeer(pair.peer);
    await until(() => lines.some((l) => l['msg'] === 'serial.opened'));
    execFileSync('stty', ['-F', pair.device, 'min', '0', 'time', '0']);
    peer.write('AB');
    await until(() => rejected.some((r) => r.reason === 'io-error'));
    expect(lines.find((l) => l['msg'] === 'serial.error')).toMatchObject({ level: 40, stage: 'closed', err: expect.stringContaining('hung up') as unknown });
    // Reopened (termios set afresh, as a re-plugged adapter's new tty would be) and reading again.
    await until(() => lines.filter((l) => l['msg'] === 'serial.opened').length >= 2);
    await until(() => {
      peer.write('PING\n');
      return scans.length > 0;
    });
    expect(scans[0]?.data).toBe('PING');
  });

  it('reports io-error when the PTY disappears and reconnects when it is back', async () => {
    const first = await openPtyPair();
    const scanner = new SerialScanner({
      path: first.device,
      baudRate: 9600,
      clock: new SystemClock(),
      initialBackoffMs: 20,
      maxBackoffMs: 50,
    });
    cleanups.push(() => scanner.stop());
    const scans: Scan[] = [];
    const rejected: InputRejection[] = [];
    scanner.onScan((s) => scans.push(s));
    scanner.onRejected((r) => rejected.push(r));
    scanner.start();
    await new Promise((r) => setTimeout(r, 100));
    await killAndWait(first.socat);
    await until(() => rejected.some((r) => r.reason === 'io-error'));
    // socat normally removes its links on exit; make sure no stale link survives.
    rmSync(first.device, { force: true });
    rmSync(first.peer, { force: true });
    // Recreate the PTY at the same path, as a re-plugged USB adapter would appear again.
    const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${first.device}`, `pty,raw,echo=0,link=${first.peer}`], {
      stdio: 'ignore',
    });
    track({ ...first, socat });
    await until(() => existsSync(first.device) && existsSync(first.peer));
    const peer = await openPeer(first.peer);
    await until(() => {
      peer.write('PING\n');
      return scans.length > 0;
    });
    expect(scans[0]?.data).toBe('PING');
  });
});
