import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../http/app.js';
import { answered } from '../../testing/answered.js';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { probeClusterBinaries, startPrivateCluster, type PrivatePgCluster } from '../../testing/private-pg-cluster.js';
import { recordingLogger } from '../../testing/recording-logger.js';
import { topicFor } from '../../shared/contract.js';
import { scan } from '../../testing/tracking-helpers.js';
import { waitFor } from '../../testing/wait-for.js';
import type { PgExecutor } from './pg-executor.js';

// The 3 a.m. case: PostgreSQL goes away under a running backend (crash, failover, restart)
// and comes back. The same process must answer 503 DB_UNAVAILABLE quickly while it is
// gone, say so on /health, serve again once it returns (the pool reconnects), keep every
// write it acknowledged, and its sweepers must pick up work accepted before the outage.
// Runs on a private cluster (testing/private-pg-cluster.ts): the shared server is never stopped.

const probe = probeClusterBinaries();
if (!probe.available) process.stderr.write(`[skip] PostgreSQL outage: ${probe.reason}\n`);

interface ErrorJson {
  error: { code: string; message: string };
}

describe.skipIf(!probe.available)('a PostgreSQL outage under a running backend', () => {
  let cluster: PrivatePgCluster;
  let f: BackendFixture;
  let app: App;
  const rec = recordingLogger();
  const rejections: unknown[] = [];
  const onRejection = (err: unknown): void => void rejections.push(err);

  beforeAll(async () => {
    if (!probe.available) return;
    process.on('unhandledRejection', onRejection);
    cluster = await startPrivateCluster(probe.bin);
    f = await makeBackend({ engine: 'postgres', pgUrl: cluster.url, logger: rec.logger, config: { reservations: { sweepIntervalMs: 50 }, db: { connectTimeoutMs: 500 } } });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 8 }));
    app = await f.app();
  }, 120_000);

  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await f?.close().catch(() => undefined);
    await cluster?.destroy();
  }, 60_000);

  const reserve = (key: string) => app.inject({ method: 'POST', url: '/reservations', headers: { 'idempotency-key': key }, payload: { orderRef: key, lockerId: 'lk-a', size: 'M' } });
  const health = () => app.inject({ method: 'GET', url: '/health' });

  it('answers 503 while PostgreSQL is down, serves again after it returns, and loses nothing it acknowledged', async () => {
    const acked: string[] = [];
    const first = await reserve('outage-before-1');
    expect(first.statusCode).toBe(201);
    acked.push(first.json<{ id: string }>().id);
    expect((await health()).json()).toMatchObject({ status: 'ok', db: 'ok' });
    // Accepted as POST /tracking/events accepts it, not yet applied: the sweeper's
    // tracking-apply pass owes it. The sweeper runs on its timer through the whole outage.
    await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, [scan('OUT1', 'in_transit', f.clock.now() - 60_000)]);

    await cluster.stop('immediate');
    f.services.sweeper.start();

    // Several rounds, so pooled connections the crash broke and fresh connects refused are both met.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const held = await answered('POST /reservations during the outage', reserve(`outage-during-${String(i)}`));
      statuses.push(held.statusCode);
      expect(held.json<ErrorJson>().error.code).toBe('DB_UNAVAILABLE');
      expect(held.headers['retry-after']).toBeDefined();
      const read = await answered('GET /reservations/:id during the outage', app.inject({ method: 'GET', url: `/reservations/${acked[0] ?? ''}` }));
      statuses.push(read.statusCode);
      const events = await answered(
        'POST /tracking/events during the outage',
        app.inject({ method: 'POST', url: '/tracking/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ events: [scan('OUT2', 'in_transit', f.clock.now())] }) }),
      );
      statuses.push(events.statusCode);
    }
    expect(statuses.every((s) => s === 503)).toBe(true);
    const down = await answered('GET /health during the outage', health());
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ status: 'unavailable', db: 'unavailable' });
    await waitFor(() => rec.lines.some((l) => l['msg'] === 'sweeper.task_failed'), 'a sweeper pass to fail on the outage');

    await cluster.start();
    // The same process, no restart: the pool opens new connections once the server accepts them.
    await waitFor(async () => (await health()).statusCode === 200, '/health to report the database back', 30_000);
    const after = await reserve('outage-after-1');
    expect(after.statusCode).toBe(201);
    acked.push(after.json<{ id: string }>().id);
    // The sweeper kept its timer: the event accepted before the outage is applied after it.
    await waitFor(async () => (await f.store.tracking.projection('OUT1')) !== undefined, 'the tracking event accepted before the outage to be applied', 30_000);
    await f.services.sweeper.stop();

    for (const id of acked) expect((await f.store.reservations.get(id))?.id).toBe(id);
    // The requests refused during the outage left nothing behind, so a retry is safe.
    const states = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(async (n) => (await f.store.lockers.compartment('lk-a', `M${String(n)}`))?.state));
    expect(states.filter((s) => s !== 'free')).toHaveLength(acked.length);
    expect(rejections).toEqual([]);
  }, 120_000);

  it('answers 503 instead of waiting for ever when the server accepts connections but never answers', async () => {
    expect((await health()).statusCode).toBe(200);
    // The pool's sessions end (as a failover ends them), then no new one is ever answered.
    await cluster.terminateSessions();
    const pool = (f.store.x as PgExecutor).pool;
    await waitFor(() => pool.totalCount === 0, 'the pool to drop its terminated sessions');
    cluster.freeze();
    try {
      const held = await answered('POST /reservations while the server does not answer', reserve('frozen-1'));
      expect(held.statusCode).toBe(503);
      expect(held.json<ErrorJson>().error.code).toBe('DB_UNAVAILABLE');
      const down = await answered('GET /health while the server does not answer', health());
      expect(down.json()).toMatchObject({ db: 'unavailable' });
    } finally {
      cluster.thaw();
    }
    await waitFor(async () => (await health()).statusCode === 200, '/health to report the database back', 30_000);
    expect((await reserve('frozen-after-1')).statusCode).toBe(201);
    expect(rejections).toEqual([]);
  }, 120_000);

  it('logs the outage once for the lockers\' MQTT messages, not once per message', async () => {
    // Every locker keeps sending (health every few minutes, resent audit uploads) while the
    // database is gone: an error line per message would bury the one that matters.
    await cluster.stop('immediate');
    const from = rec.lines.length;
    try {
      for (let i = 0; i < 12; i++) {
        await answered('a locker message during the outage', f.services.bridge.onMessage(topicFor('lk-a', i % 2 === 0 ? 'health' : 'audit/upload'), Buffer.from('{}')));
      }
    } finally {
      await cluster.start();
    }
    const bridgeLines = rec.lines.slice(from).filter((l) => String(l['msg']).startsWith('bridge.'));
    expect(bridgeLines.map((l) => l['msg'])).toEqual(['bridge.db_unavailable']);
    // The rest are counted, and the count comes out when the window ends.
    f.clock.advance(60_000);
    await f.services.bridge.flushRejectionLog();
    expect(rec.lines.slice(from).filter((l) => l['msg'] === 'bridge.db_unavailable_summary')).toEqual([expect.objectContaining({ suppressed: 11 })]);
    await waitFor(async () => (await health()).statusCode === 200, '/health to report the database back', 30_000);
  }, 120_000);
});
