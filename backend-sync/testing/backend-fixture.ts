import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackendServices, type BackendServices } from '../backend-services.js';
import { parseConfig, type BackendConfig, type BackendConfigInput } from '../config/config.js';
import { buildApp, type App } from '../http/app.js';
import type { LockerInput } from '../lockers/locker-schemas.js';
import { LogChannel } from '../notifications/log-channel.js';
import type { NotificationChannel } from '../notifications/channel.js';
import { SimulatedPaymentProvider } from '../payments/simulated-payment-provider.js';
import { ManualClock, type Clock } from '../shared/clock.js';
import { createEd25519, keyToText, type Ed25519 } from '../shared/contract.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { openSqliteStore } from '../store/open-store.js';
import type { SqlStore } from '../store/sql-store.js';
import type { EngineName } from './pg-test-db.js';
import { openTestPgStore } from './test-store.js';

// A real backend for tests: the embedded store (SqlStore on a SQLite file) in a temp dir,
// real Ed25519 keys written the way scripts/keygen.ts writes them, a manual clock unless
// told otherwise, a recording log channel to play the customer. Nothing is shared between
// fixtures, unless a test makes several of them one deployment: the same `dir` (keys) and
// the same PostgreSQL `pgSchema`, each fixture then acting as one backend instance.
// Async because the key store loads (and records) its keys through the store.

export const T0 = Date.parse('2026-11-22T10:00:00Z');

export interface BackendFixture {
  dir: string;
  config: BackendConfig;
  /** The manual clock the services read; with a non-manual `clock` option (systemClock), an unused one. */
  clock: ManualClock;
  store: SqlStore;
  services: BackendServices;
  payments: SimulatedPaymentProvider;
  inbox: LogChannel;
  ed: Ed25519;
  app: () => Promise<App>;
  close(): Promise<void>;
}

export function writeKey(ed: Ed25519, keysDir: string, kid: string): { publicKey: string } {
  mkdirSync(keysDir, { recursive: true });
  const { seed, publicKey } = ed.generateKeyPair();
  writeFileSync(join(keysDir, `${kid}.key`), `${keyToText(seed)}\n`, { mode: 0o600 });
  writeFileSync(join(keysDir, `${kid}.pub`), `${keyToText(publicKey)}\n`);
  return { publicKey: keyToText(publicKey) };
}

export interface FixtureOptions {
  config?: BackendConfigInput;
  clock?: Clock;
  logger?: Logger;
  channels?: NotificationChannel[];
  kid?: string;
  dir?: string;
  /** 'postgres': a fresh schema on the test server (pg-test-db.ts) instead of the SQLite file. */
  engine?: EngineName;
  /** With engine 'postgres': use this schema (created if missing, kept on close) to share it with other fixtures. */
  pgSchema?: string;
  /** With engine 'postgres': this server instead of the shared test server (a private cluster a test stops). */
  pgUrl?: string;
}

export async function makeBackend(o: FixtureOptions = {}): Promise<BackendFixture> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'backend-'));
  const ed = createEd25519('node-crypto');
  const keysDir = join(dir, 'keys');
  const kid = o.kid ?? 'k-20261101-test';
  // Instances of one deployment share their keys: a fixture joining a dir keeps its key.
  if (!existsSync(join(keysDir, `${kid}.key`))) writeKey(ed, keysDir, kid);
  const config = parseConfig({ ...o.config, db: { path: join(dir, 'backend.db'), checkpoint: o.config?.db?.checkpoint ?? 'inline', connectTimeoutMs: o.config?.db?.connectTimeoutMs, queryTimeoutMs: o.config?.db?.queryTimeoutMs }, keys: { dir: keysDir, ...o.config?.keys }, mqtt: { enabled: false, ...o.config?.mqtt } });
  // A fixture joining another's manual clock exposes that one: `b.clock.advance()` must move
  // the time b's services read, not a clock nothing reads.
  const clock = o.clock instanceof ManualClock ? o.clock : new ManualClock(T0);
  const logger = o.logger ?? silentLogger();
  const { store, dispose } = await openFixtureStore(o, config.db, logger);
  const payments = new SimulatedPaymentProvider();
  const inbox = new LogChannel(logger, true);
  const services = createBackendServices({ config, store, clock: o.clock ?? clock, logger, ed, payments, channels: o.channels ?? [inbox] });
  try {
    await services.keys.load();
    // As main.ts does before serving: a store a migration merged numbers in is refolded.
    await services.tracking.refoldPending();
  } catch (err) {
    await dispose();
    throw err;
  }
  let app: App | undefined;
  return {
    dir,
    config,
    clock,
    store,
    services,
    payments,
    inbox,
    ed,
    app: async () => (app ??= await buildApp(services)),
    close: async () => {
      await app?.close();
      await services.tracking.poller?.stop();
      await services.sweeper.stop();
      await dispose();
      if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openFixtureStore(o: FixtureOptions, db: BackendConfig['db'], logger: Logger): Promise<{ store: SqlStore; dispose: () => Promise<void> }> {
  if (o.engine !== 'postgres') {
    const store = openSqliteStore(db.path, logger, { checkpoint: db.checkpoint });
    return { store, dispose: () => store.close() };
  }
  const pg = await openTestPgStore({ logger, connectTimeoutMs: db.connectTimeoutMs, queryTimeoutMs: db.queryTimeoutMs, ...(o.pgSchema === undefined ? {} : { schema: o.pgSchema }), ...(o.pgUrl === undefined ? {} : { url: o.pgUrl }) });
  // A shared schema belongs to the test that named it; a fresh one goes with the fixture.
  return { store: pg.store, dispose: o.pgSchema === undefined ? pg.dispose : () => pg.store.close() };
}

/**
 * A second instance of the fixture's deployment, as another process would be: its own
 * services and keys directory (keys.activeKid as given) over the same store and clock.
 * Not loaded, so a test can watch load() refuse.
 */
export function peerInstance(b: BackendFixture, keysDir: string, keys: { activeKid?: string; revokedKids?: string[] } = {}): BackendServices {
  const config: BackendConfig = { ...b.config, keys: { ...b.config.keys, dir: keysDir, activeKid: keys.activeKid, revokedKids: keys.revokedKids ?? b.config.keys.revokedKids } };
  return createBackendServices({ config, store: b.store, clock: b.clock, logger: b.services.logger, ed: b.ed, payments: new SimulatedPaymentProvider(), channels: [] });
}

/** A locker with `perSize` compartments of each size listed. */
export function lockerInput(id: string, lat: number, lng: number, sizes: Partial<Record<'S' | 'M' | 'L' | 'XL', number>> = { S: 2, M: 2, L: 1 }): LockerInput {
  const compartments: LockerInput['compartments'] = [];
  for (const [size, n] of Object.entries(sizes) as Array<['S' | 'M' | 'L' | 'XL', number]>) {
    for (let i = 1; i <= n; i++) compartments.push({ id: `${size}${String(i)}`, size, dimensions: { widthMm: 400, heightMm: size === 'S' ? 100 : size === 'M' ? 200 : size === 'L' ? 400 : 600, depthMm: 600 } });
  }
  return {
    id,
    name: `Locker ${id}`,
    location: { lat, lng },
    address: { street: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'DE' },
    openingHours: { mon: [{ open: '00:00', close: '24:00' }] },
    status: 'operating',
    compartments,
  };
}
