import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceChild, FakeNotifySocket, hasSocat, tempDir, waitFor, writeDeviceConfig, type TempDir } from './process-harness.js';

// The device process against a fake NOTIFY_SOCKET (socat UNIX-RECV), as systemd runs it with
// Type=notify and WatchdogSec=800ms: READY arrives once the device is up, WATCHDOG pings
// follow, and they stop while the child's event loop is blocked.

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(): { tmp: TempDir; config: string } {
  const tmp = tempDir('sd-notify-');
  cleanups.push(() => tmp.cleanup());
  return { tmp, config: writeDeviceConfig(tmp.dir) };
}

describe.skipIf(!hasSocat)('the device under systemd (fake notify socket)', () => {
  it('sends READY once started, then watchdog pings that stop while its event loop is blocked', async () => {
    const { tmp, config } = setup();
    const socket = await FakeNotifySocket.open(join(tmp.dir, 'notify'));
    cleanups.push(() => socket.close());
    const child = new DeviceChild(config, { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '800000' });
    cleanups.push(() => child.kill());

    await waitFor(() => socket.count('READY=1') === 1, `READY=1 (stderr: ${child.stderr.slice(0, 500)})`);
    // READY comes after the runtime switched the relays off and opened the store.
    const started = child.first('msg', 'runtime.started');
    expect(started).toBeDefined();
    expect(socket.received.find((d) => d.text === 'READY=1')?.at).toBeGreaterThanOrEqual(started?.receivedAt ?? Infinity);
    await waitFor(() => socket.count('WATCHDOG=1') >= 4, 'four watchdog pings');

    child.send('block 3000\n');
    await waitFor(() => child.has('marker', 'unblocked'), 'the end of the block', 30_000);
    const pingsAtUnblock = socket.count('WATCHDOG=1');
    await waitFor(() => socket.count('WATCHDOG=1') >= pingsAtUnblock + 3, 'the pings to resume');

    // Normal gaps are one tick (200 ms); the block left a hole of about 3 s.
    const pings = socket.received.filter((d) => d.text === 'WATCHDOG=1').map((d) => d.at);
    const longestGap = Math.max(...pings.slice(1).map((t, i) => t - (pings[i] ?? t)));
    expect(longestGap).toBeGreaterThanOrEqual(2_000);
    // The tick that fired late, right after the block, was not taken as a sign of health.
    expect(child.has('msg', 'watchdog.loop-blocked')).toBe(true);
  }, 60_000);

  it('sends no READY and no pings when systemd gave no NOTIFY_SOCKET', async () => {
    const { tmp, config } = setup();
    const socket = await FakeNotifySocket.open(join(tmp.dir, 'notify'));
    cleanups.push(() => socket.close());
    const child = new DeviceChild(config, { WATCHDOG_USEC: '800000' });
    cleanups.push(() => child.kill());
    await waitFor(() => child.has('marker', 'started'), 'the device to start');
    expect(socket.received).toEqual([]);
  }, 60_000);
});
