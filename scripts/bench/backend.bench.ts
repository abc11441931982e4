// Backend bridge benchmarks: `npm run bench backend` (or npx tsx scripts/bench/backend.bench.ts).
// Prints `name: value unit` lines:
//   locker_search_p99_ms   nearby search (2 km, random size) over 10,000 lockers / 200,000
//                          compartments in one metro area, through LockerService (direct,
//                          no HTTP), p99 of 2,000 queries. Target ≤ 5 ms.
//   locker_search_wide_p99_ms
//                          the same queries with a 50 km radius (the API's widest).
//   reserve_per_s          successful checkout holds per second, DIRECT: 64 concurrent async
//                          clients calling the real ReservationService.reserveGrouped (the
//                          code behind POST /reservations: idempotency record, conditional
//                          claim, state log, SQLite WAL synced before the answer, group commit),
//                          without HTTP. Target ≥ 5,000.
//   reserve_http_per_s     the same through HTTP: 64 concurrent keep-alive clients in a
//                          separate process against the listening fastify app (zod
//                          validation and serialisation included).
//   reserve_http_cpu_us_server / _load_client
//                          CPU (user + system) per HTTP hold attempt of the server (this
//                          process) and of the load process: the cost, robust under load.
//   double_bookings        compartments held by more than one live reservation, or held
//                          without one, after all runs. Must be 0.
//   reservation_confirm_p99_ms
//                          a hold confirmed by an order (reservation and compartment, its
//                          own transaction, WAL synced), p99 of 500 over the 200,000
//                          compartments.
//   metrics_scrape_ms      GET /metrics' work (read the fleet, write ~160,000 series) with
//                          every locker reporting health, median of 3 after a warm-up;
//   metrics_scrape_longest_stall_ms
//                          the longest the event loop went without a turn during them
//                          (what an API request waits behind a scrape at worst).
//   token_issue_per_s      pickup tokens with a fresh keypad code (CSPRNG, digest, uniqueness
//                          check, PASETO v4.public signature with node:crypto).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBackend } from '@locker/backend/testing/backend-fixture.js';
import { systemClock } from '@locker/backend/shared/clock.js';
import { sql } from '@locker/backend/store/sql/sql-text.js';
import { percentile, print } from './bench-kit.js';
import { runHoldLoad } from './backend/hold-load.js';
import { LOCKERS, MetroArea, searchLatency } from './backend/metro-lockers.js';

// The estate and the searches are shared with backend-pg.bench.ts (backend/metro-lockers.ts),
// so the two engines' search figures are taken on the same city with the same queries.
const metro = new MetroArea();
const rand = (): number => metro.rand();

const dir = mkdtempSync(join(tmpdir(), 'backend-bench-'));
// The production SQLite setup: WAL synced off the event loop, checkpoints in a worker thread.
const f = await makeBackend({ dir, clock: systemClock, config: { rateLimit: { windowMs: 1000, max: 10_000_000 }, db: { checkpoint: 'background' } } });
try {
  await f.store.transaction(async () => {
    for (let i = 0; i < LOCKERS; i++) await f.services.lockers.register(metro.locker(i));
  });

  // --- search ---
  const search = await searchLatency(metro, (q) => f.services.lockers.search(q));
  print('locker_search_p99_ms', search.p99, 'ms');
  print('locker_search_p50_ms', search.p50, 'ms');
  // The widest radius the API takes (50 km, the whole metro area) with its default limit.
  const wide = await searchLatency(metro, (q) => f.services.lockers.search({ ...q, radiusM: 50_000 }));
  print('locker_search_wide_p99_ms', wide.p99, 'ms');

  // --- reservations over HTTP: 64 concurrent keep-alive clients in a separate process ---
  const app = await f.app();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const CLIENTS = 64;
  const PER_CLIENT = 250;
  const run = (tag: string, perClient: number) => runHoldLoad({ bases: [base], clients: CLIENTS, perClient, lockers: LOCKERS, tag });
  await run('warm', 20);
  // The server is this process: its CPU over the HTTP window, per hold attempt, is what a
  // hold costs the server (robust under load, unlike the rate), beside the load process's.
  const cpu0 = process.cpuUsage();
  const http = await run('http', PER_CLIENT);
  const cpu = process.cpuUsage(cpu0);
  const attempts = http.ok + http.full + http.other;
  print('reserve_http_per_s', Math.round(http.ok / (http.ms / 1000)), 'ops/s');
  print('reserve_http_cpu_us_server', Math.round((cpu.user + cpu.system) / attempts), 'us');
  print('reserve_http_cpu_us_load_client', Math.round(http.cpuUs / attempts), 'us');
  if (http.other > 0) print('reserve_http_errors', http.other, 'count');

  // --- reservations direct: 64 concurrent async clients on the group-committed service ---
  let okDirect = 0;
  const direct = async (c: number): Promise<void> => {
    for (let i = 0; i < PER_CLIENT; i++) {
      try {
        await f.services.reservations.reserveGrouped(`direct-${String(c)}-${String(i)}`, { orderRef: `d-${String(c)}-${String(i)}`, lockerId: `bench-${String(Math.floor(rand() * LOCKERS))}`, size: 'L' });
        okDirect++;
      } catch {
        // no capacity at that locker: not counted
      }
    }
  };
  const t1 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => direct(c)));
  print('reserve_per_s', Math.round(okDirect / ((performance.now() - t1) / 1000)), 'ops/s');

  const dup = await f.store.x.one<{ n: number }>(
    sql(
      `SELECT (SELECT count(*) FROM (SELECT locker_id, compartment_id FROM reservations WHERE status IN ('held', 'confirmed', 'consumed')
                                      GROUP BY locker_id, compartment_id HAVING count(*) > 1))
            + (SELECT count(*) FROM compartments c WHERE c.state = 'held'
                 AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = c.reservation_id AND r.status = 'held')) AS n`,
    ),
  );
  print('double_bookings', dup?.n ?? -1, 'count');

  // --- confirming holds (the order path), over the whole estate's compartments ---
  const held = await f.store.x.all<{ id: string }>(sql(`SELECT id FROM reservations WHERE status = 'held' AND expires_at > ? LIMIT 500`), [Date.now() + 60_000]);
  const confirmMs: number[] = [];
  for (const { id } of held) {
    const t = performance.now();
    if (!(await f.store.transaction(() => f.store.reservations.confirm(id, `order-${id}`, Date.now())))) throw new Error(`hold ${id} did not confirm`);
    confirmMs.push(performance.now() - t);
  }
  print('reservation_confirm_p99_ms', percentile(confirmMs, 99), 'ms');

  // --- a Prometheus scrape of the whole estate, every locker with a health report ---
  const sentAt = Date.now();
  await f.store.transaction(async () => {
    for (let i = 0; i < LOCKERS; i++) {
      await f.store.lockerHealth.put({
        lockerId: `bench-${String(i)}`,
        bootId: 'boot-0001',
        sentAt,
        receivedAt: sentAt,
        health: {
          compartments: Array.from({ length: 20 }, (_, k) => ({ id: `C${String(k)}`, status: 'ok' as const, door: 'closed' as const })),
          lockout: { active: false, failures: 0 },
          liveCodes: 12,
          auditBacklog: 0,
          clockFloor: sentAt - 1_000,
          codeSetVersion: 7,
          awaitingDeposit: 3,
          rejectedMessages: { 'bad-signature': 2, malformed: 1 },
          rejectionAuditsSuppressed: 0,
          lockouts: 1,
          doorFailures: { jammed: 0, 'relay-fault': 1, 'sensor-unknown': 0 },
        },
        episodes: { outOfService: {} },
      });
    }
  });
  const scrapes: number[] = [];
  let stall = 0;
  for (let i = 0; i < 4; i++) {
    let last = performance.now();
    let watching = true;
    const watch = (): void => {
      const t = performance.now();
      if (i > 0) stall = Math.max(stall, t - last);
      last = t;
      if (watching) setImmediate(watch);
    };
    setImmediate(watch);
    const t = performance.now();
    await f.services.metrics.render();
    if (i > 0) scrapes.push(performance.now() - t);
    watching = false;
    await new Promise((resolve) => setImmediate(resolve));
  }
  print('metrics_scrape_ms', percentile(scrapes, 50), 'ms');
  print('metrics_scrape_longest_stall_ms', Number(stall.toFixed(1)), 'ms');

  // --- token issuance ---
  const pepper = (await f.store.lockers.pepper('bench-1'))!;
  const issue = async (): Promise<void> => {
    await f.services.tokens.codeToken('pickup', 'bench-1', pepper, { compartmentId: 'M1', parcelId: 'PARCEL-1', size: 'M' }, (d) => f.store.codeSets.liveDigestExists('bench-1', d));
  };
  for (let i = 0; i < 500; i++) await issue();
  let n = 0;
  const t2 = performance.now();
  while (performance.now() - t2 < 2000) {
    for (let i = 0; i < 50; i++) await issue();
    n += 50;
  }
  print('token_issue_per_s', Math.round(n / ((performance.now() - t2) / 1000)), 'ops/s');
} finally {
  await f.close();
  rmSync(dir, { recursive: true, force: true });
}
