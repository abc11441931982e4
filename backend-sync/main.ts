// The backend bridge's composition root: `npm run backend` (tsx backend-sync/main.ts).
// Reads config (BACKEND_CONFIG file + env overrides), creates the logger, the store
// (PostgreSQL when db.url is set, else the embedded SQLite file), the keys and every component, then starts HTTP, MQTT and the sweeper. SIGINT/SIGTERM
// stop them in reverse order: no new requests, in-flight ones finish, timers stop, the
// MQTT session closes cleanly, the database closes last.
import { setTimeout as sleep } from 'node:timers/promises';
import { createBackendServices } from './backend-services.js';
import { loadConfig } from './config/config.js';
import { reloadSigningKeys } from './codes/key-reload.js';
import { buildApp } from './http/app.js';
import { bridgeSubscriptionsFor, signedUplinkSubscriptionsFor } from './locker-sync/locker-bridge.js';
import { MqttTransport } from './locker-sync/mqtt-transport.js';
import { pauseSignedUplinksWhileUnavailable } from './locker-sync/signed-uplinks.js';
import type { NotificationChannel } from './notifications/channel.js';
import { LogChannel } from './notifications/log-channel.js';
import { WebhookChannel } from './notifications/webhook-channel.js';
import { SimulatedPaymentProvider } from './payments/simulated-payment-provider.js';
import { monotonicClock, systemClock } from './shared/clock.js';
import { ALIGN_INTERVAL_MS, DbAlignedClock, logAlignment } from './shared/db-clock.js';
import { createEd25519 } from './shared/contract.js';
import { createLogger } from './shared/logger.js';
import { openStore } from './store/open-store.js';
import { SqliteExecutor } from './store/sqlite/sqlite-executor.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  // Decisions go by the database's clock, shared by every instance, not this host's
  // (shared/db-clock.ts): aligned before anything reads it, again every minute. It advances
  // by the monotonic clock, so an NTP step of the wall clock does not move it.
  const clock = new DbAlignedClock(monotonicClock, systemClock);
  const store = await openStore(config.db, logger);
  const clockLog = logger.child({ component: 'clock' });
  try {
    logAlignment(clockLog, await clock.align(() => store.dbTime()));
  } catch (err) {
    await store.close();
    throw err;
  }
  const aligner = setInterval(() => {
    clock.align(() => store.dbTime()).then(
      (a) => logAlignment(clockLog, a),
      (err: unknown) => clockLog.warn({ err: err instanceof Error ? err.message : String(err) }, 'clock.align_failed'),
    );
  }, ALIGN_INTERVAL_MS);
  aligner.unref();
  const channels: NotificationChannel[] = [new LogChannel(logger.child({ component: 'notify' }))];
  if (config.notifications.webhook !== undefined) channels.push(new WebhookChannel(config.notifications.webhook.url, config.notifications.webhook.secret, () => clock.now()));
  const services = createBackendServices({ config, store, clock, logger, ed: createEd25519('node-crypto'), payments: new SimulatedPaymentProvider(), channels });
  try {
    await services.keys.load();
    // Before the API serves: numbers a migration merged have no read model until refolded,
    // and GET /track would answer 404 for them (tracking/refold-pending.ts).
    await services.tracking.refoldPending();
  } catch (err) {
    await store.close();
    throw err;
  }

  let transport: MqttTransport | undefined;
  if (config.mqtt.enabled && config.mqtt.url !== undefined) {
    transport = new MqttTransport({
      url: config.mqtt.url,
      clientId: config.mqtt.clientId,
      username: config.mqtt.username,
      password: config.mqtt.password,
      subscriptions: bridgeSubscriptionsFor(config.mqtt.sharedGroup),
      // Shared subscriptions are MQTT 5; a shared instance's session lapses soon after it
      // dies, so its queued uplinks are not held for it (lockers resend until acked).
      ...(config.mqtt.sharedGroup === undefined ? {} : { protocolVersion: 5 as const, sessionExpirySeconds: 120 }),
      logger,
      onMessage: (topic, payload) => services.bridge.onMessage(topic, payload),
    });
    services.bridge.attach(transport);
    pauseSignedUplinksWhileUnavailable(services.keys, transport, signedUplinkSubscriptionsFor(config.mqtt.sharedGroup), logger);
  }
  const mqtt = transport;
  const app = await buildApp({ ...services, mqttConnected: mqtt === undefined ? undefined : () => mqtt.connected });
  await app.listen({ host: config.http.host, port: config.http.port });
  services.sweeper.start();
  services.tracking.poller?.start();
  // Not awaited: the API and the sweeper serve while the broker is unreachable; mqtt.js
  // keeps retrying and the first connect re-syncs every locker from retained presences.
  mqtt?.start().catch((err: unknown) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'mqtt.start_failed'));
  if (mqtt === undefined) logger.warn({}, 'mqtt.disabled');
  logger.info({ host: config.http.host, port: config.http.port, mqtt: mqtt === undefined ? 'disabled' : config.mqtt.url }, 'backend.started');

  let stopping = false;
  const shutdown = async (signal: string, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'backend.stopping');
    await app.close();
    // Aborts carrier requests in flight: their numbers back off and are polled again later
    // (by this or another instance once the lease lapses); nothing fetched is half-stored.
    await services.tracking.poller?.stop();
    await services.sweeper.stop();
    clearInterval(aligner);
    await mqtt?.stop();
    // In-flight message handlers and code-set publishes finish before the database closes
    // (bounded: a stuck one must not keep the process from stopping).
    await Promise.race([services.bridge.idle(), sleep(5_000)]);
    await store.close();
    logger.info({ exitCode }, 'backend.stopped');
    logger.flush();
    process.exit(exitCode);
  };
  // The WAL could not be synced: nothing written from now on could be acknowledged, and the
  // kernel may have dropped pages it reported written. Stop (exit 1: the supervisor restarts
  // the process) so SQLite recovers from what is really on disk.
  if (store.x instanceof SqliteExecutor) {
    store.x.onDurabilityLost((err) => {
      logger.fatal({ code: err.code, ...err.details }, 'db.durability_lost');
      void shutdown('db-durability-lost', 1).catch(() => process.exit(1));
    });
  }
  // SIGHUP re-reads the keys directory, like POST /admin/keys/reload; on failure the keys
  // in use stay and the process keeps serving.
  process.on('SIGHUP', () => {
    reloadSigningKeys({ store, keys: services.keys, codeSets: services.codeSets, logger }).catch((err: unknown) => {
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'keys.sighup_reload_failed');
    });
  });
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`backend-sync failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
