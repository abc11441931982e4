import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Logger } from 'pino';
import { apiKeyDigest } from '@locker/backend/auth/api-key-auth.js';
import { createBackendServices, type BackendServices } from '@locker/backend/backend-services.js';
import { parseConfig } from '@locker/backend/config/config.js';
import { buildApp, type App } from '@locker/backend/http/app.js';
import { bridgeSubscriptions } from '@locker/backend/locker-sync/locker-bridge.js';
import { MqttTransport } from '@locker/backend/locker-sync/mqtt-transport.js';
import type { LockerInput } from '@locker/backend/lockers/locker-schemas.js';
import { LogChannel } from '@locker/backend/notifications/log-channel.js';
import { SimulatedPaymentProvider } from '@locker/backend/payments/simulated-payment-provider.js';
import { systemClock, type Clock } from '@locker/backend/shared/clock.js';
import { openStore } from '@locker/backend/store/open-store.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { KeyringRow } from '@locker/device/store/runtime-store.js';
import { PublicKeyText, type KeyringChange } from '@locker/contract/codes/code-batch.js';
import { decodeBase64UrlStrict } from '@locker/contract/crypto/base64url.js';
import type { SigningKey } from './backend-signing-key.js';
import type { DataDirPaths } from './data-dir.js';
import type { SimLockerConfig } from './sim-config.js';

// The real backend (backend-sync) in the simulator's process: its SQLite store in the data
// dir, its HTTP API on a loopback port, its MQTT bridge on the embedded broker, its
// sweepers. Composed from backend-sync's own parts (createBackendServices), as its main.ts
// does, with a notification channel that keeps what it "sent" so the demo can play the
// customer who receives the pickup code.

export interface EmbeddedBackend {
  readonly services: BackendServices;
  readonly app: App;
  /** Base URL of the HTTP API (loopback). */
  readonly url: string;
  /**
   * Bearer key for the HTTP API (roles merchant, carrier, admin), made fresh at every start
   * and held only in memory: the simulator runs the API with authentication on, as production does.
   */
  readonly apiKey: string;
  /** What was sent to customers, codes included: the demo reads the code from here. */
  readonly inbox: LogChannel;
  /**
   * Registers a locker at its first start (provisioning bundle installed in its data dir:
   * code pepper, keyring) and returns the keyring installed on it (its first trusted keys).
   */
  provision(locker: SimLockerConfig, paths: DataDirPaths): Promise<KeyringRow[]>;
  stop(): Promise<void>;
}

export interface EmbeddedBackendOptions {
  logLevel: SimLockerConfig['logLevel'];
  /** The session's data dir: backendDatabase and backendKeys are used. */
  paths: Pick<DataDirPaths, 'backendDatabase' | 'backendKeys'>;
  /** The session's time (moves forward with `clock forward`); the system clock by default. */
  clock?: Clock;
  brokerUrl: string;
  /** The signing key file must exist (loadOrCreateSigningKey) before the backend loads keys. */
  key: SigningKey;
  logger: Logger;
  say: (line: string) => void;
}

/** The simulated locker as the backend's registry knows it (location and sizes are illustrative). */
export function registration(config: SimLockerConfig): LockerInput {
  const heightMm = { S: 100, M: 200, L: 400, XL: 600 } as const;
  const { site } = config;
  return {
    id: config.lockerId,
    name: site.name ?? `Simulated locker ${config.lockerId}`,
    location: { lat: site.lat, lng: site.lng },
    address: { street: site.street, city: site.city, postalCode: site.postalCode, country: site.country },
    openingHours: { mon: [{ open: '00:00', close: '24:00' }], tue: [{ open: '00:00', close: '24:00' }], wed: [{ open: '00:00', close: '24:00' }], thu: [{ open: '00:00', close: '24:00' }], fri: [{ open: '00:00', close: '24:00' }], sat: [{ open: '00:00', close: '24:00' }], sun: [{ open: '00:00', close: '24:00' }] },
    status: 'operating',
    compartments: config.compartments.map((c) => ({ id: c.id, size: c.size, dimensions: { widthMm: 400, heightMm: heightMm[c.size], depthMm: 600 } })),
  };
}

export async function startEmbeddedBackend(options: EmbeddedBackendOptions): Promise<EmbeddedBackend> {
  const { paths, say } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger.child({ component: 'backend' });
  const apiKey = `lk_${randomBytes(32).toString('base64url')}`;
  const backendConfig = parseConfig({
    logLevel: options.logLevel,
    auth: { apiKeys: [{ id: 'simulator', roles: ['merchant', 'carrier', 'admin'], sha256: apiKeyDigest(apiKey) }] },
    http: { host: '127.0.0.1', port: 0 },
    db: { path: paths.backendDatabase },
    keys: { dir: paths.backendKeys, issuer: 'sim-backend' },
    mqtt: { url: options.brokerUrl, clientId: 'backend-sync' },
    // Short sweeps so expiries and notifications happen while someone watches.
    notifications: { pollIntervalMs: 200 },
    reservations: { sweepIntervalMs: 1_000 },
  });
  const store = await openStore(backendConfig.db, logger);
  const inbox = new LogChannel(logger.child({ component: 'notify' }), true);
  const services = createBackendServices({
    config: backendConfig, store, clock, logger, ed: createEd25519('node-crypto'), payments: new SimulatedPaymentProvider(), channels: [inbox],
  });
  let app: App | undefined;
  let transport: MqttTransport | undefined;
  try {
    await services.keys.load();
    transport = new MqttTransport({
      url: options.brokerUrl, clientId: backendConfig.mqtt.clientId, subscriptions: bridgeSubscriptions, logger,
      onMessage: (topic, payload) => services.bridge.onMessage(topic, payload),
    });
    services.bridge.attach(transport);
    const mqtt = transport;
    app = await buildApp({ ...services, mqttConnected: () => mqtt.connected });
    const url = await app.listen({ host: backendConfig.http.host, port: backendConfig.http.port });
    await transport.start();
    services.sweeper.start();
    const started = app;
    return {
      services, app: started, url, apiKey, inbox,
      provision: async (locker, lockerPaths) => {
        await provisionLocker(services, locker, lockerPaths, say);
        return readProvisionedKeyring(lockerPaths.provisionedKeyring);
      },
      stop: async () => {
        await started.close();
        await services.sweeper.stop();
        await mqtt.stop();
        await services.bridge.idle();
        await store.close();
      },
    };
  } catch (err) {
    await app?.close();
    await transport?.stop();
    await store.close();
    throw err;
  }
}

const ProvisionedKeyring = z.array(
  z.object({ kid: z.string(), publicKey: PublicKeyText, revoked: z.literal(false), notAfter: z.number().int().positive().optional() }).strict(),
);

function writeProvisionedKeyring(path: string, keyring: readonly KeyringChange[]): void {
  const rows = keyring.flatMap((k): KeyringRow[] =>
    k.op === 'trust' ? [{ kid: k.kid, publicKey: k.publicKey, revoked: false, ...(k.notAfter === undefined ? {} : { notAfter: k.notAfter }) }] : [],
  );
  writeFileSync(path, `${JSON.stringify(rows, null, 2)}\n`, { mode: 0o600 });
}

/** The installed keyring; fixed at install like a board's, so a later backend rotation arrives by batch. */
function readProvisionedKeyring(path: string): KeyringRow[] {
  const parsed = ProvisionedKeyring.safeParse(JSON.parse(readFileSync(path, 'utf8')) as unknown);
  if (!parsed.success) throw new Error(`${path} is not a keyring: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data.map((r) => ({ kid: r.kid, publicKey: r.publicKey, revoked: r.revoked, ...(r.notAfter === undefined ? {} : { notAfter: r.notAfter }) }));
}

/**
 * Registers the locker at first run and installs what the provisioning bundle holds: the
 * code pepper, which only the backend generates and returns once. A data dir where only
 * one side knows the locker cannot be repaired here (the pepper is gone): say so.
 */
async function provisionLocker(services: BackendServices, config: SimLockerConfig, paths: DataDirPaths, say: (line: string) => void): Promise<void> {
  const known = (await services.store.lockers.gate(config.lockerId)) !== undefined;
  const pepperExists = existsSync(paths.codePepper);
  if (known && pepperExists) {
    // A data dir from before the keyring was kept: what the backend trusts now is the best record.
    if (!existsSync(paths.provisionedKeyring)) writeProvisionedKeyring(paths.provisionedKeyring, await services.keys.keyringChanges());
    return;
  }
  if (known || pepperExists) {
    const why = known ? 'the code pepper file is missing' : 'the locker was set up without the backend (--offline), which cannot adopt it';
    throw new Error(`data dir ${paths.root}: ${why}; start with --fresh (or keep --offline)`);
  }
  const { provisioning } = await services.lockers.register(registration(config));
  const pepper = decodeBase64UrlStrict(provisioning.codePepper);
  if (pepper === undefined) throw new Error('backend returned an unreadable code pepper');
  // Hex, the format the device's readCodePepper reads; 'wx': never replace a pepper in use.
  writeFileSync(paths.codePepper, `${Buffer.from(pepper).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  writeProvisionedKeyring(paths.provisionedKeyring, provisioning.keyring);
  say(`locker ${config.lockerId} registered with the backend; provisioning bundle installed (code pepper, keyring of ${String(provisioning.keyring.length)} key(s))`);
}
