// Shipment tracking benchmarks (issue 10): `npm run bench tracking`. Prints `name: value unit`:
//   tracking_ingest_events_per_s      SQLite (WAL synced before each answer): a provider stream of
//                                     EVENTS events (NUMBERS tracking numbers × 10 scans,
//                                     interleaved) accepted in payloads of 500 through the real
//                                     intake and applied by the real applier (dedupe, history,
//                                     fold, projection, read model, milestone lookups), from the
//                                     first accept to an empty inbox, in a process that has
//                                     already ingested one such stream of other numbers (as a
//                                     running backend has: the JIT has compiled the hot path,
//                                     and the tables are not empty). Target ≥ 20,000/s.
//   tracking_ingest_cold_events_per_s that first stream, in a fresh process (the JIT still
//                                     compiling): the figure before the warm-up, shown beside.
//   raw_sqlite_insert_per_s           the same rows as plain prepared INSERTs into a table of
//                                     the history's shape, 500 per transaction, same file, same run.
//   tracking_vs_raw_sqlite            the ratio. Target ≥ 0.3.
//   tracking_write_floor_events_per_s the writes the ingest cannot do without, alone: each event's
//                                     inbox row in (500 per transaction, as accepted), then its
//                                     dedupe key and history row in and its inbox row out (5,000
//                                     per transaction, as applied), on copies of those tables with
//                                     their indexes, same file, same durability, same run; no
//                                     reads, no fold, no projection, no validation.
//   tracking_write_floor_vs_raw_sqlite that floor over the raw inserts: the most any ingest on this
//                                     schema could reach.
//   track_lookup_p99_ms               GET /track/{n} over HTTP on loopback (keep-alive, one
//                                     client in this process), p99 of LOOKUPS after a warm-up.
//                                     Target ≤ 2 ms.
//   track_lookup_store_p99_ms         the read model's point lookup alone.
//   dedupe_hit_rate                   a 2,000-event stream sent three times (the replays with
//                                     fresh carrier event ids): duplicates / events seen (0.667).
//   pgbench_simple_update_tps         PostgreSQL's own write rate, measured in this run.
//   tracking_ingest_events_per_s_pg   the ingest above on PostgreSQL (fresh schema), 4 applier
//                                     drains at once (as 4 instances would: SKIP LOCKED claims).
//   tracking_pg_vs_pgbench            the ratio. Target ≥ 0.3.
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { makeBackend, type BackendFixture } from '@locker/backend/testing/backend-fixture.js';
import { probePg } from '@locker/backend/testing/pg-test-db.js';
import type { SqliteExecutor } from '@locker/backend/store/sqlite/sqlite-executor.js';
import type { CanonicalTrackingEvent } from '@locker/backend/tracking/tracking-event.js';
import { normalisedHash } from '@locker/backend/tracking/core/event-identity.js';
import { print, percentile } from './bench-kit.js';
import { PgbenchError, pgbenchSimpleUpdateTps } from './pgbench.js';

const NUMBERS = Number(process.env['BENCH_TRACKING_NUMBERS'] ?? 3_000);
const SCANS = 10;
const PAYLOAD = 500;
const LOOKUPS = Number(process.env['BENCH_TRACK_LOOKUPS'] ?? 5_000);
const flow = ['label_created', 'picked_up', 'in_transit', 'in_transit', 'in_transit', 'exception', 'in_transit', 'out_for_delivery', 'out_for_delivery', 'delivered'] as const;
const cities = ['Berlin', 'Kassel', 'Hamburg', 'Leipzig', 'Köln'];

/** A day of provider traffic: every number's scans in time order, numbers interleaved. */
function stream(prefix: string, numbers: number, t0: number): CanonicalTrackingEvent[] {
  const out: CanonicalTrackingEvent[] = [];
  for (let s = 0; s < SCANS; s++) {
    for (let n = 0; n < numbers; n++) {
      const status = flow[s] ?? 'in_transit';
      out.push({
        trackingNumber: `${prefix}${String(n).padStart(7, '0')}`,
        carrier: 'dhl',
        carrierEventId: `${prefix}-${String(n)}-${String(s)}`,
        status,
        carrierStatus: status.toUpperCase(),
        eventTime: t0 + s * 3_600_000 + n,
        location: { facility: `Hub ${String(s)}`, city: cities[(n + s) % cities.length] as string, country: 'DE' },
        ...(s === 1 ? { estimatedDeliveryAt: t0 + 3 * 86_400_000 } : {}),
      });
    }
  }
  return out;
}

async function ingest(f: BackendFixture, events: readonly CanonicalTrackingEvent[], drains: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < events.length; i += PAYLOAD) {
    await f.services.tracking.intake.accept({ source: 'canonical', body: '{"bench":true}', receivedAt: f.clock.now() }, events.slice(i, i + PAYLOAD));
  }
  const accepted = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: drains }, () => f.services.tracking.applier.drain()));
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(`# ${String(events.length)} events: accept ${(accepted - t0).toFixed(0)} ms, apply ${(performance.now() - accepted).toFixed(0)} ms (this process's CPU ${((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000).toFixed(0)} ms)\n`);
  if ((await f.store.tracking.inboxSize()) !== 0) throw new Error('inbox not empty after the drains');
  return events.length / s;
}

function rawInserts(f: BackendFixture, events: readonly CanonicalTrackingEvent[]): number {
  const db = (f.store.x as SqliteExecutor).db;
  db.exec(`CREATE TABLE bench_raw (seq INTEGER PRIMARY KEY, tracking_number TEXT NOT NULL, hash TEXT NOT NULL, status TEXT NOT NULL, event_time INTEGER NOT NULL,
           source TEXT NOT NULL, payload_id TEXT NOT NULL, received_at INTEGER NOT NULL, event_json TEXT NOT NULL)`);
  const insert = db.prepare('INSERT INTO bench_raw (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  // As durable as the ingest: each transaction is on disk when it returns (the backend's own
  // connection runs NORMAL and syncs the WAL before acknowledging, decision 0035).
  db.pragma('synchronous = FULL');
  const t0 = performance.now();
  for (let i = 0; i < events.length; i += PAYLOAD) {
    db.transaction(() => {
      for (const e of events.slice(i, i + PAYLOAD)) insert.run(e.trackingNumber, normalisedHash(e), e.status, e.eventTime, 'canonical', 'p', 1, JSON.stringify(e));
    }).immediate();
  }
  const perS = events.length / ((performance.now() - t0) / 1000);
  db.pragma('synchronous = NORMAL');
  return perS;
}

/**
 * The ingest's unavoidable writes on copies of its own tables (their DDL read back from
 * sqlite_master, indexes included, so the floor follows the schema), nothing else.
 */
function writeFloor(f: BackendFixture, events: readonly CanonicalTrackingEvent[]): number {
  const db = (f.store.x as SqliteExecutor).db;
  const tables = ['tracking_inbox', 'tracking_dedupe', 'tracking_history'];
  const ddl = db
    .prepare(`SELECT sql FROM sqlite_master WHERE tbl_name IN (${tables.map(() => '?').join(', ')}) AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC`)
    .pluck()
    .all(...tables) as string[];
  for (const stmt of ddl) db.exec(stmt.replace(/\b(tracking_(?:inbox|dedupe|history)\w*)/g, 'floor_$1'));
  const toInbox = db.prepare('INSERT INTO floor_tracking_inbox (tracking_number, payload_id, source, event_json, received_at) VALUES (?, ?, ?, ?, ?)');
  const toDedupe = db.prepare('INSERT INTO floor_tracking_dedupe (key, created_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING');
  const toHistory = db.prepare(
    'INSERT INTO floor_tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING',
  );
  const outOfInbox = db.prepare('DELETE FROM floor_tracking_inbox WHERE seq = ?');
  const APPLY_BATCH = 5_000;
  db.pragma('synchronous = FULL');
  const t0 = performance.now();
  for (let i = 0; i < events.length; i += PAYLOAD) {
    db.transaction(() => {
      for (const e of events.slice(i, i + PAYLOAD)) toInbox.run(e.trackingNumber, 'p', 'canonical', JSON.stringify(e), 1);
    }).immediate();
  }
  let seq = 0;
  for (let i = 0; i < events.length; i += APPLY_BATCH) {
    db.transaction(() => {
      for (const e of events.slice(i, i + APPLY_BATCH)) {
        toDedupe.run(`id:${e.carrier}:${String(e.carrierEventId)}`, 1);
        toHistory.run(e.trackingNumber, normalisedHash(e), e.status, e.eventTime, 'canonical', 'p', 1, JSON.stringify(e));
        outOfInbox.run(++seq);
      }
    }).immediate();
  }
  const perS = events.length / ((performance.now() - t0) / 1000);
  db.pragma('synchronous = NORMAL');
  return perS;
}

async function lookups(f: BackendFixture, numbers: number): Promise<{ http: number; store: number }> {
  // The ingest's garbage is collected first: it belongs to the bench, not to the lookups.
  (globalThis as { gc?: () => void }).gc?.();
  const storeSamples: number[] = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const tn = `S${String(i % numbers).padStart(7, '0')}`;
    const t0 = performance.now();
    await f.store.tracking.readModel(tn);
    storeSamples.push(performance.now() - t0);
  }
  const app = await f.app();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  const samples: number[] = [];
  for (let i = 0; i < LOOKUPS + 500; i++) {
    const tn = `S${String((i * 7919) % numbers).padStart(7, '0')}`;
    const t0 = performance.now();
    const status = await get(`/track/${tn}`);
    if (status !== 200) throw new Error(`GET /track/${tn}: ${String(status)}`);
    if (i >= 500) samples.push(performance.now() - t0);
  }
  agent.destroy();
  return { http: percentile(samples, 99), store: percentile(storeSamples, 99) };
}

const dir = mkdtempSync(join(tmpdir(), 'tracking-bench-'));
try {
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  // --- SQLite ---
  const f = await makeBackend({ dir: join(dir, 'sqlite'), config: { rateLimit: { windowMs: 1000, max: 10_000_000 }, db: { checkpoint: 'background' } } });
  try {
    const cold = await ingest(f, stream('C', NUMBERS, t0), 1);
    const events = stream('S', NUMBERS, t0);
    const perS = await ingest(f, events, 1);
    const raw = rawInserts(f, events);
    const floor = writeFloor(f, events);
    print('tracking_ingest_events_per_s', Math.round(perS), 'events/s');
    print('tracking_ingest_cold_events_per_s', Math.round(cold), 'events/s');
    print('raw_sqlite_insert_per_s', Math.round(raw), 'rows/s');
    print('tracking_vs_raw_sqlite', Number((perS / raw).toFixed(3)), 'x');
    print('tracking_write_floor_events_per_s', Math.round(floor), 'events/s');
    print('tracking_write_floor_vs_raw_sqlite', Number((floor / raw).toFixed(3)), 'x');
    const look = await lookups(f, NUMBERS);
    print('track_lookup_p99_ms', look.http, 'ms');
    print('track_lookup_store_p99_ms', look.store, 'ms');
  } finally {
    await f.close();
  }
  const g = await makeBackend({ dir: join(dir, 'dedupe') });
  try {
    const clean = stream('R', 200, t0);
    for (let round = 0; round < 3; round++) {
      const events = round === 0 ? clean : clean.map((e) => ({ ...e, carrierEventId: `${String(e.carrierEventId)}-r${String(round)}` }));
      await ingest(g, events, 1);
    }
    print('dedupe_hit_rate', Number(g.services.tracking.metrics.dedupeHitRate().toFixed(3)), 'ratio');
  } finally {
    await g.close();
  }

  // --- PostgreSQL ---
  const probe = await probePg();
  if (!probe.available) {
    if ((process.env['CI'] ?? '') !== '') throw new Error(`tracking bench: ${probe.reason}`);
    process.stdout.write(`# skip PostgreSQL tracking figures: ${probe.reason}\n`);
  } else {
    let tps: number | undefined;
    try {
      tps = await pgbenchSimpleUpdateTps({ clients: 16 });
      print('pgbench_simple_update_tps', Math.round(tps), 'tps');
    } catch (err) {
      if (!(err instanceof PgbenchError) || err.code !== 'PGBENCH_MISSING' || (process.env['CI'] ?? '') !== '') throw err;
      process.stdout.write(`# skip pgbench_simple_update_tps: ${err.message}\n`);
    }
    const p = await makeBackend({ dir: join(dir, 'pg'), engine: 'postgres' });
    try {
      const perS = await ingest(p, stream('P', NUMBERS, t0), 4);
      print('tracking_ingest_events_per_s_pg', Math.round(perS), 'events/s');
      if (tps !== undefined) print('tracking_pg_vs_pgbench', Number((perS / tps).toFixed(3)), 'x');
    } finally {
      await p.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
