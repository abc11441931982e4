import { afterEach, describe, expect, it } from 'vitest';
import { DeviceChild, tempDir, waitFor, writeDeviceConfig } from './process-harness.js';

// The real device process (device/main.ts) hit by a bug nothing catches: it must leave one
// fatal line saying what failed, switch every relay off and exit 1 (systemd restarts it),
// instead of dying with a bare stack on stderr and the GPIO lines as they were.

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function crashed(how: 'throw' | 'reject'): Promise<DeviceChild> {
  const tmp = tempDir('device-crash-');
  cleanups.push(() => tmp.cleanup());
  const child = new DeviceChild(writeDeviceConfig(tmp.dir), {});
  cleanups.push(() => child.kill());
  await waitFor(() => child.has('marker', 'started'), `the device to start (stderr: ${child.stderr.slice(0, 500)})`);
  child.send(`crash ${how}\n`);
  await waitFor(() => child.exit !== undefined, 'the device to exit');
  return child;
}

describe('the device process after a bug nothing caught', () => {
  it.each([
    ['throw', 'uncaughtException', 'test bug: thrown'],
    ['reject', 'unhandledRejection', 'test bug: rejected'],
  ] as const)('%s: logs device.crashed, switches every relay off, exits 1', async (how, origin, message) => {
    const child = await crashed(how);
    expect(child.exit?.code).toBe(1);
    const line = child.first('msg', 'device.crashed');
    expect(line).toMatchObject({ level: 60, origin, err: { message } });
    expect(child.first('msg', 'device.crash-exit')).toMatchObject({ level: 60, relaysOff: true });
    // Before exiting, not a line a later restart wrote.
    expect((child.first('msg', 'device.crash-exit')?.receivedAt ?? Infinity) <= (child.exit?.at ?? 0)).toBe(true);
  }, 60_000);
});
