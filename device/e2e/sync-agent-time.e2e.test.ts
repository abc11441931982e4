import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import type { Clock } from '@locker/hal/types.js';
import { makeTestKeys } from '@locker/contract/test-keys.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { TestBackend } from '@locker/sync-testing/test-backend.js';
import { startDevice } from '../main.js';

// Decision 0019: decisions read device time, never the wall clock. The sync agent judges a
// signed command's expiry (and a key's retirement) with its clock's now(): given the wall
// clock, a board whose RTC lost its battery (or was set back) executes a remote-open whose
// signed validity ended long ago, once the command log no longer holds it. The composition
// root gives the agent device time.

const DAY = 86_400_000;
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The real clock with its wall reading set back: timers and monotonic time untouched. */
function wallSetBack(byMs: number): Clock {
  const real = new SystemClock();
  return {
    now: () => real.now() - byMs,
    monotonicMs: () => real.monotonicMs(),
    setTimeout: (cb, ms) => real.setTimeout(cb, ms),
    clearTimeout: (h) => real.clearTimeout(h),
  };
}

describe('the sync agent on a locker whose wall clock is behind', () => {
  it('refuses a signed remote-open whose validity ended, judged by device time, not the wall clock', async () => {
    let signerNow = Date.now();
    const keys = makeTestKeys(() => signerNow);
    const broker = await AedesHarness.start();
    const backend = await TestBackend.connect({ url: broker.url, signer: keys.signer, protocolVersion: 4 });
    const dir = mkdtempSync(join(tmpdir(), 'device-sync-time-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'pepper'), `${'ab'.repeat(32)}\n`);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      lockerId: 'locker-time-1',
      compartments: [{ id: 'A01', size: 'M' }],
      codePepperFile: join(dir, 'pepper'),
      dbPath: join(dir, 'device.db'),
      logLevel: 'silent',
      hardware: { kind: 'simulated', compartments: [{ id: 'A01' }] },
      trustedKeys: keys.rows.map((r) => ({ kid: r.kid, publicKey: r.publicKey })),
      sync: { mqtt: { url: broker.url }, agent: { firmwareVersion: 'test', protocolVersion: 4 } },
    }));
    const device = await startDevice(join(dir, 'config.json'), { clock: wallSetBack(30 * DAY) });
    try {
      await backend.waitFor(() => backend.presence.get('locker-time-1')?.status === 'online', 10_000, 'the birth message');
      // A signed batch: device time is now the backend's time, whatever the wall says.
      backend.publishBatch({ lockerId: 'locker-time-1', kind: 'delta', fromVersion: 0, toVersion: 1, upserts: [], revocations: [], keyring: [] });
      await backend.waitFor(() => backend.codeAcks.length > 0, 10_000, 'the code ack');
      expect(Math.abs(device.runtime.trustedNow() - Date.now())).toBeLessThan(DAY);
      // A remote-open signed a week ago, valid for a minute (a captured message, replayed).
      signerNow = Date.now() - 7 * DAY;
      backend.publishCommand('locker-time-1', 'txn-replayed-0001', { kind: 'remote-open', compartmentId: 'A01', reason: 'replayed' });
      await backend.waitFor(() => backend.replies.length > 0, 10_000, 'the command reply');
      expect(backend.replies[0]).toMatchObject({ transactionId: 'txn-replayed-0001', status: 'rejected', reason: 'expired' });
      expect(device.control?.pulses('A01')).toHaveLength(0);
    } finally {
      await device.stop();
      await backend.close();
      await broker.close();
    }
  }, 30_000);
});
