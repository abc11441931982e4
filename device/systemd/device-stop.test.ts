import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { makeTestKeys } from '@locker/contract/test-keys.js';
import { TestBackend } from '@locker/sync-testing/test-backend.js';
import { silentLogger } from '../logger.js';
import { STOP_BOUND_MS } from '../main.js';
import { openDeviceStore } from '../store/device-store.js';
import { DeviceChild, FakeNotifySocket, hasSocat, tempDir, waitFor, writeDeviceConfig } from './process-harness.js';

// SIGTERM, as systemd sends it, against the real device process: it tells systemd it is
// stopping, says goodbye to the broker (retained offline/shutdown presence), switches the
// relays off, leaves the journal and audit outbox durable, and exits 0 within the bound,
// also when the broker is gone.

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startBoard(): Promise<{ dir: string; child: DeviceChild; socket: FakeNotifySocket; backend: TestBackend; broker: AedesHarness }> {
  const tmp = tempDir('device-stop-');
  cleanups.push(() => tmp.cleanup());
  const keys = makeTestKeys();
  const broker = await AedesHarness.start();
  cleanups.push(() => broker.close());
  const backend = await TestBackend.connect({ url: broker.url, signer: keys.signer, protocolVersion: 4 });
  cleanups.push(() => backend.close());
  const config = writeDeviceConfig(tmp.dir, {
    trustedKeys: keys.rows.map((r) => ({ kid: r.kid, publicKey: r.publicKey })),
    sync: { mqtt: { url: broker.url }, agent: { firmwareVersion: 'test', protocolVersion: 4 } },
  });
  const socket = await FakeNotifySocket.open(join(tmp.dir, 'notify'));
  cleanups.push(() => socket.close());
  const child = new DeviceChild(config, { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '2000000' });
  cleanups.push(() => child.kill());
  await waitFor(() => socket.count('READY=1') === 1, `READY (stderr: ${child.stderr.slice(0, 500)})`);
  await backend.waitFor(() => backend.presence.get('locker-board-1')?.status === 'online', 20_000, 'the birth message');
  return { dir: tmp.dir, child, socket, backend, broker };
}

function checkDurable(dir: string): void {
  // The WAL was checkpointed into the database file when the store closed.
  const wal = join(dir, 'device.db-wal');
  expect(existsSync(wal) ? statSync(wal).size : 0).toBe(0);
  const store = openDeviceStore({ path: join(dir, 'device.db'), lockerId: 'locker-board-1', logger: silentLogger(), now: () => Date.now() });
  try {
    expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(store.verifyAuditChain().ok).toBe(true);
    const outbox = store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 1_000 }).map((r) => r.type);
    // Still in the outbox (no ack could arrive after the goodbye), written after every relay went off (LockerRuntime.stop).
    expect(outbox.at(-1)).toBe('device.stopped');
  } finally {
    store.close();
  }
}

describe.skipIf(!hasSocat)('SIGTERM on the device process', () => {
  it('tells systemd it is stopping, says goodbye to the broker, and exits 0 within the bound with the store durable', async () => {
    const { dir, child, socket, backend } = await startBoard();
    const sentAt = Date.now();
    child.signal('SIGTERM');
    await waitFor(() => child.exit !== undefined, 'the exit', STOP_BOUND_MS + 10_000);
    expect(child.exit?.code, child.stderr).toBe(0);
    expect((child.exit?.at ?? Infinity) - sentAt).toBeLessThan(STOP_BOUND_MS);
    expect(socket.count('STOPPING=1')).toBe(1);
    await backend.waitFor(() => backend.presence.get('locker-board-1')?.status === 'offline', 10_000, 'the goodbye');
    expect(backend.presence.get('locker-board-1')).toMatchObject({ status: 'offline', cause: 'shutdown' });
    expect(child.has('msg', 'device.stopped')).toBe(true);
    checkDurable(dir);
  }, 90_000);

  it('still stops cleanly within the bound when the broker is gone', async () => {
    const { dir, child, broker } = await startBoard();
    await broker.kill();
    const sentAt = Date.now();
    child.signal('SIGTERM');
    await waitFor(() => child.exit !== undefined, 'the exit', STOP_BOUND_MS + 10_000);
    expect(child.exit?.code, child.stderr).toBe(0);
    expect((child.exit?.at ?? Infinity) - sentAt).toBeLessThan(STOP_BOUND_MS);
    checkDurable(dir);
  }, 90_000);
});
