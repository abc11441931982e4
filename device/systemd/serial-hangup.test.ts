import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceChild, hasSocat, tempDir, waitFor, writeDeviceConfig } from './process-harness.js';

// The real device process with its scanner on a serial line (bench mode: the real serial
// driver, simulated doors and relays), and the scanner unplugged while it sends. An
// unplugged USB adapter's tty is hung up: read(2) returns 0 from then on. A PTY whose
// termios say "return at once" (min 0, time 0) answers a read with 0 the same way, without
// the privilege a real vhangup(2) needs. serialport's binding re-read that forever: one
// core busy and the heap growing until V8 aborted the process, with no io-error, no
// reconnect and no device.crashed line (hal/real/hangup-aware-binding.ts).

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill();
  });
}

describe.skipIf(!hasSocat)('the device process when its serial scanner is unplugged mid-transfer', () => {
  it('logs the hang-up, reopens the line and keeps running: no device.crashed, no exit', async () => {
    const tmp = tempDir('device-hangup-');
    cleanups.push(() => tmp.cleanup());
    const device = join(tmp.dir, 'scanner');
    const peerPath = join(tmp.dir, 'scanner-peer');
    const socat = spawn('socat', [`pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${peerPath}`], { stdio: 'ignore' });
    cleanups.push(() => killAndWait(socat));
    await waitFor(() => existsSync(device) && existsSync(peerPath), 'the PTY pair');
    const config = writeDeviceConfig(tmp.dir, {
      hardware: { kind: 'simulated', compartments: [{ id: 'A01' }, { id: 'A02' }], scanner: { path: device } },
    });
    const child = new DeviceChild(config, {});
    cleanups.push(() => child.kill());
    await waitFor(() => child.has('marker', 'started') && child.has('msg', 'serial.opened'), `the device and its scanner line (stderr: ${child.stderr.slice(0, 500)})`);

    execFileSync('stty', ['-F', device, 'min', '0', 'time', '0']);
    // Bytes on the line (the scanner sending when it is pulled), written at the far end.
    writeFileSync(peerPath, 'AB');

    await waitFor(() => child.lines.some((l) => l['msg'] === 'serial.error' && l['stage'] === 'closed'), 'the hang-up to be logged');
    expect(child.lines.find((l) => l['msg'] === 'serial.error' && l['stage'] === 'closed')).toMatchObject({ level: 40, component: 'scanner', err: expect.stringContaining('hung up') as unknown });
    await waitFor(() => child.lines.filter((l) => l['msg'] === 'serial.opened').length >= 2, 'the scanner line to be reopened');
    // Still serving a while later: the runtime saw an io-error rejection, nothing more.
    await new Promise((r) => setTimeout(r, 1000));
    expect(child.exit).toBeUndefined();
    expect(child.has('msg', 'device.crashed')).toBe(false);
  }, 60_000);
});
