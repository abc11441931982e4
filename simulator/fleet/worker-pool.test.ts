import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WorkerPool } from './worker-pool.js';

// The parent's side of a worker that is gone before the parent has noticed: the worker
// closed its end of the IPC channel (it stopped, or died), but this process has not yet
// read the EOF, so the channel still looks connected and a message to it fails to write
// (EPIPE). Under CPU load that window is wide; the fleet's stop sends stats and
// operations into it.

const dir = mkdtempSync(join(tmpdir(), 'fleet-pool-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Linux: the process has exited and waits to be reaped (its IPC socket is closed). */
function isZombie(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const agent = { protocolVersion: 4, keepaliveSeconds: 30, reconnect: { initialMs: 500, maxMs: 5_000, jitter: 1, promptMaxMs: 1_000 }, auditPollMs: 500, healthIntervalMs: 10_000 } as const;

describe('worker pool', () => {
  it.skipIf(!existsSync('/proc/self/stat'))('a message to a worker that has just gone fails that message only, not the fleet', async () => {
    const pool = WorkerPool.spawn(1);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      await pool.start([], { mqttUrl: 'mqtt://127.0.0.1:1', dataDir: join(dir, 'lockers'), agent, startConcurrency: 1 });
      const pid = pool.pids[0] ?? 0;
      const before = await pool.stats(5_000);
      expect(before.perWorker[0]).toMatchObject({ lockers: 0 });

      // The worker stops on its own and exits; this event loop does not turn meanwhile, so
      // the pool has not seen the channel close when it sends.
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 20_000;
      while (!isZombie(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      expect(isZombie(pid)).toBe(true);
      const stats = pool.stats(1_000);
      const stopped = pool.stop(5_000);

      // A stats request answers with the worker's last figures; the stop completes.
      expect((await stats).perWorker[0]).toEqual(before.perWorker[0]);
      await stopped;
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await pool.stop(1_000);
    }
  }, 60_000);
});
