// Fleet figures (issue 11): `npx tsx scripts/bench/fleet.bench.ts`, or `npm run bench fleet`.
// 1,000 real lockers (device runtime + sync agent on simulated hardware, a SQLite file
// each) in worker processes, a private Mosquitto, the embedded backend on SQLite in this
// process — the composition `npm run fleet -- --mqtt-url …` uses. Prints `name: value unit`:
//   fleet_startup_s                       registration to every locker online with its code set acked
//   fleet_rss_per_locker_mb               workers' RSS / lockers (this process: fleet_parent_rss_mb)
//   fleet_reconnect_catchup_s             Mosquitto SIGKILLed, codes issued for some lockers while it is
//                                         down, restarted on the same port: time from the restart until
//                                         the backend has a fresh 'online' presence from every locker and
//                                         every code set is acked at its current version (target ≤ 10 s);
//                                         with the stages: every agent connected, every presence received
//   fleet_deposits_per_s                  one parcel per locker ordered, shipped and deposited (API + device)
//   fleet_pickups_per_s                   every parcel collected by keypad code, FLEET_BENCH_CONCURRENCY
//                                         customers at a time, until the backend shows all collected
//   fleet_pickup_keypad_to_relay_p99_ms   code's last key to relay energised on the locker (and p50)
// FLEET_BENCH_LOCKERS / FLEET_BENCH_WORKERS / FLEET_BENCH_CONCURRENCY change the shape;
// FLEET_BENCH_LOG_LEVEL=info shows the embedded backend's log (presences, batches) on stderr.
import { loadavg } from 'node:os';
import { pino } from 'pino';
import { hasMosquitto, MosquittoHarness } from '@locker/sync-testing/mosquitto-harness.js';
import { fleetAgentTuning } from '@locker/simulator/fleet/fleet-args.js';
import { startFleet, type Fleet } from '@locker/simulator/fleet/fleet.js';
import { LatencySamples } from '@locker/simulator/fleet/latency-samples.js';
import { collect, confirmCollected, deposit, ship, type DepositedParcel, type ParcelFlowDeps, type ParcelRecord, type ShippedParcel } from '@locker/simulator/fleet/parcel-flow.js';
import { print } from './bench-kit.js';

const LOCKERS = Number(process.env['FLEET_BENCH_LOCKERS'] ?? 1000);
const WORKERS = Number(process.env['FLEET_BENCH_WORKERS'] ?? Math.max(1, Math.ceil(LOCKERS / 250)));
const CONCURRENCY = Number(process.env['FLEET_BENCH_CONCURRENCY'] ?? 200);
/** Lockers that get a new code while the broker is down (their code set must catch up). */
const STALE = Math.min(100, LOCKERS);

const note = (line: string): void => {
  process.stdout.write(`# ${line}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (fromMs: number): number => Math.round((performance.now() - fromMs) / 10) / 100;
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i] as T);
    }),
  );
}

async function untilAllReady(fleet: Fleet, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while ((await fleet.backendReady()) !== fleet.lockerIds.length) {
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
  return true;
}

interface CatchUp {
  /** Seconds from the restart until: every agent connected, every fresh presence at the backend, every code set acked. */
  connected?: number;
  presence?: number;
  current?: number;
}

/** After a broker restart: when each stage of the fleet's return was first complete. */
async function catchUp(fleet: Fleet, restartWall: number, restarted: number, timeoutMs: number): Promise<CatchUp> {
  const out: CatchUp = {};
  const timeline: string[] = [];
  const deadline = Date.now() + timeoutMs;
  const n = fleet.lockerIds.length;
  while (Date.now() < deadline && (out.connected === undefined || out.presence === undefined || out.current === undefined)) {
    if (out.connected === undefined && (await fleet.pool.stats(5_000)).connected === n) out.connected = seconds(restarted);
    if (out.presence === undefined && fleet.lockerIds.every((id) => (fleet.backend.lastOnlinePresence?.(id) ?? 0) >= restartWall)) out.presence = seconds(restarted);
    if (out.presence !== undefined && out.current === undefined) {
      const ready = await fleet.backendReady();
      timeline.push(`${String(seconds(restarted))}s:${String(ready)}`);
      if (ready === n) out.current = seconds(restarted);
    }
    await sleep(100);
  }
  note(`lockers ready (online, code set acked) after the restart: ${timeline.join(' ')}`);
  return out;
}

async function run(): Promise<void> {
  const broker = await MosquittoHarness.start();
  const logger = pino({ level: process.env['FLEET_BENCH_LOG_LEVEL'] ?? (process.env['LOG_LEVEL'] === 'silent' ? 'silent' : 'warn') }, pino.destination(2));
  let fleet: Fleet | undefined;
  try {
    const t0 = performance.now();
    fleet = await startFleet(
      {
        lockers: LOCKERS, workers: WORKERS, compartments: 4, size: 'M', mqttUrl: broker.url, mqttProtocol: 5, backend: undefined, dataDir: undefined, keepDataDir: false,
        agent: fleetAgentTuning(5, 2_000), startConcurrency: 25, prefix: 'bench',
      },
      logger,
      note,
    );
    if (!(await untilAllReady(fleet, 120_000))) throw new Error(`only ${String(await fleet.backendReady())}/${String(LOCKERS)} lockers came online`);
    print('fleet_startup_s', seconds(t0), 's');
    print('fleet_lockers', LOCKERS, 'lockers');
    print('fleet_workers', WORKERS, 'processes');
    const stats = await fleet.pool.stats(10_000);
    print('fleet_rss_per_locker_mb', Math.round((stats.rssBytes / LOCKERS / 1e6) * 100) / 100, 'MB');
    print('fleet_parent_rss_mb', Math.round(process.memoryUsage.rss() / 1e6), 'MB');
    note(`load average (1/5/15 min) with ${String(LOCKERS)} lockers idle: ${load()}`);

    const flow: Omit<ParcelFlowDeps, 'hooks'> = { api: fleet.api, device: fleet.pool, notices: fleet.notices, effectTimeoutMs: 60_000 };
    const keypad = new LatencySamples();
    const failures: string[] = [];
    const hooks: ParcelFlowDeps['hooks'] = {
      opDone: (kind, o) => {
        if (!o.ok) failures.push(`${kind}: ${o.error ?? '?'}`);
        if (o.keypadToRelayMs !== undefined) keypad.add(o.keypadToRelayMs);
      },
    };
    const d: ParcelFlowDeps = { ...flow, hooks };
    const parcels: ParcelRecord[] = fleet.lockerIds.map((lockerId, i) => ({ tag: `bench-${String(i)}`, lockerId, stage: 'started', pickup: true }));

    // Broker restart: codes for STALE lockers are issued while it is down.
    await broker.kill();
    const down = performance.now();
    const shipped = new Map<ParcelRecord, ShippedParcel>();
    await inParallel(parcels.slice(0, STALE), 16, async (p) => {
      shipped.set(p, await ship(d, p, 'M'));
    });
    note(`broker down ${String(seconds(down))} s while ${String(STALE)} lockers got a new code`);
    const restartWall = Date.now();
    const restarted = performance.now();
    await broker.restart();
    const c = await catchUp(fleet, restartWall, restarted, 120_000);
    if (c.current === undefined) note(`not caught up after 120 s: ${String(await fleet.backendReady())}/${String(LOCKERS)} ready`);
    print('fleet_reconnect_catchup_s', c.current ?? -1, 's');
    print('fleet_reconnect_all_agents_connected_s', c.connected ?? -1, 's');
    print('fleet_reconnect_all_presence_at_backend_s', c.presence ?? -1, 's');
    print('fleet_reconnect_lockers', LOCKERS, 'lockers');
    print('fleet_reconnect_stale_code_sets', STALE, 'lockers');
    note(`load average after the reconnect: ${load()}`);

    // Deposits: one parcel per locker (the STALE ones are already shipped).
    const deposited = new Map<ParcelRecord, DepositedParcel>();
    const td = performance.now();
    await inParallel(parcels, CONCURRENCY, async (p) => {
      try {
        deposited.set(p, await deposit(d, p, shipped.get(p) ?? (await ship(d, p, 'M'))));
      } catch (err) {
        failures.push(`deposit ${p.tag}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    print('fleet_deposits_per_s', Math.round((deposited.size / ((performance.now() - td) / 1000)) * 10) / 10, 'deposits/s');

    // Pickups: every deposited parcel collected by its code, CONCURRENCY customers at a time.
    const tp = performance.now();
    let picked = 0;
    await inParallel([...deposited], CONCURRENCY, async ([p, parcel]) => {
      try {
        await collect(d, p, parcel, false);
        picked++;
      } catch (err) {
        failures.push(`pickup ${p.tag}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    const devicePickupsS = (performance.now() - tp) / 1000;
    // …and the backend shows every one of them collected (from the lockers' audit uploads).
    await inParallel([...deposited], 16, (entry) => confirmCollected(d, entry[0], entry[1].shipmentId).catch((err: unknown) => {
      failures.push(`collected ${entry[0].tag}: ${err instanceof Error ? err.message : String(err)}`);
    }));
    const collected = parcels.filter((p) => p.stage === 'collected').length;
    print('fleet_pickups_per_s', Math.round((collected / ((performance.now() - tp) / 1000)) * 10) / 10, 'pickups/s');
    print('fleet_pickups_device_side_per_s', Math.round((picked / devicePickupsS) * 10) / 10, 'pickups/s');
    print('fleet_pickup_keypad_to_relay_p50_ms', keypad.percentile(50) ?? -1, 'ms');
    print('fleet_pickup_keypad_to_relay_p99_ms', keypad.percentile(99) ?? -1, 'ms');
    print('fleet_pickups_collected', collected, 'parcels');
    print('fleet_bench_failures', failures.length, 'ops');
    note(`load average after the pickups: ${load()}`);
    for (const f of failures.slice(0, 10)) note(`failure: ${f}`);
  } finally {
    await fleet?.stop();
    await broker.close();
  }
}

if (hasMosquitto) await run();
else note('mosquitto not installed: fleet figures skipped');
process.exit(0);
