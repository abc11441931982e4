import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

// A real backend for tests: the embedded store (SqlStore on a SQLite file) in a temp dir,
// real Ed25519 keys written the way scripts/keygen.ts writes them, a manual clock unless
// told otherwise, a recording log channel to play the customer. Nothing is shared between
// fixtures. Async because the key store loads (and records) its keys through the store.

export const T0 = Date.parse('2026-11-22T10:00:00Z');

export interface BackendFixture {
  dir: string;
  config: BackendConfig;
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
}

export async function makeBackend(o: FixtureOptions = {}): Promise<BackendFixture> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'backend-'));
  const ed = createEd25519('node-crypto');
  const keysDir = join(dir, 'keys');
  writeKey(ed, keysDir, o.kid ?? 'k-20261101-test');
  const config = parseConfig({ ...o.config, db: { path: join(dir, 'backend.db') }, keys: { dir: keysDir, ...o.config?.keys }, mqtt: { enabled: false, ...o.config?.mqtt } });
  const clock = new ManualClock(T0);
  const logger = o.logger ?? silentLogger();
  const store = openSqliteStore(config.db.path, logger);
  const payments = new SimulatedPaymentProvider();
  const inbox = new LogChannel(logger, true);
  const services = createBackendServices({ config, store, clock: o.clock ?? clock, logger, ed, payments, channels: o.channels ?? [inbox] });
  try {
    await services.keys.load();
  } catch (err) {
    await store.close();
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
      await services.sweeper.stop();
      await store.close();
      if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
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
