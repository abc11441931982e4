import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { apiKeyDigest } from '@locker/backend/auth/api-key-auth.js';
import { createBackendServices, type BackendServices } from '@locker/backend/backend-services.js';
import { parseConfig } from '@locker/backend/config/config.js';
import { buildApp } from '@locker/backend/http/app.js';
import { bridgeSubscriptions } from '@locker/backend/locker-sync/locker-bridge.js';
import { MqttTransport } from '@locker/backend/locker-sync/mqtt-transport.js';
import { WebhookChannel } from '@locker/backend/notifications/webhook-channel.js';
import { SimulatedPaymentProvider } from '@locker/backend/payments/simulated-payment-provider.js';
import { systemClock } from '@locker/backend/shared/clock.js';
import { openStore } from '@locker/backend/store/open-store.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { PresenceMessage } from '@locker/contract/presence-messages.js';
import { parseTopic } from '@locker/contract/topics.js';
import { loadOrCreateSigningKey } from '../backend-signing-key.js';

// The backend the fleet drives. Embedded: the real backend (backend-sync's own parts, as
// its main.ts composes them) in this process on a SQLite file, with a fresh API key and a
// webhook channel to the fleet's notification sink; the fleet also watches the presence
// messages it receives and can read its store. Remote: only a URL and an API key; what the
// fleet checks then goes through the HTTP API.

export interface FleetBackend {
  readonly url: string;
  readonly apiKey: string;
  readonly embedded: boolean;
  /** How many of these lockers are online with their code set acked at its current version. */
  readyCount(lockerIds: readonly string[]): Promise<number>;
  /** Audit records the backend stored for a locker (embedded only: no API exposes it). */
  auditIngested?(lockerId: string): Promise<number>;
  /**
   * The send time (the locker's clock, epoch ms) of the newest 'online' presence the backend
   * received from the locker (embedded only). A retained presence from before a broker
   * restart carries its old time, so it never passes for a fresh one.
   */
  lastOnlinePresence?(lockerId: string): number | undefined;
  stop(): Promise<void>;
}

export interface EmbeddedFleetBackendOptions {
  dataDir: string;
  brokerUrl: string;
  protocolVersion: 4 | 5;
  webhook: { url: string; secret: string };
  logger: Logger;
}

export async function startEmbeddedFleetBackend(o: EmbeddedFleetBackendOptions): Promise<FleetBackend> {
  const logger = o.logger.child({ component: 'fleet-backend' });
  const apiKey = `lk_${randomBytes(32).toString('base64url')}`;
  const keysDir = join(o.dataDir, 'backend-keys');
  const ed = createEd25519('node-crypto');
  loadOrCreateSigningKey(keysDir, ed);
  const config = parseConfig({
    logLevel: 'warn',
    auth: { apiKeys: [{ id: 'fleet', roles: ['merchant', 'carrier', 'admin'], sha256: apiKeyDigest(apiKey) }] },
    http: { host: '127.0.0.1', port: 0 },
    db: { path: join(o.dataDir, 'backend.db') },
    keys: { dir: keysDir, issuer: 'fleet-backend' },
    mqtt: { url: o.brokerUrl, clientId: 'fleet-backend' },
    notifications: { pollIntervalMs: 100, baseBackoffMs: 200, webhook: o.webhook },
    reservations: { sweepIntervalMs: 1_000 },
    rateLimit: { windowMs: 1000, max: 1_000_000 },
  });
  const store = await openStore(config.db, logger);
  const services: BackendServices = createBackendServices({
    config,
    store,
    clock: systemClock,
    logger,
    ed,
    payments: new SimulatedPaymentProvider(),
    channels: [new WebhookChannel(o.webhook.url, o.webhook.secret, () => Date.now())],
  });
  const onlineAt = new Map<string, number>();
  const watchPresence = (topic: string, payload: Buffer): void => {
    const t = parseTopic(topic);
    if (t?.suffix !== 'presence') return;
    try {
      const m = PresenceMessage.safeParse(JSON.parse(payload.toString('utf8')));
      if (m.success && m.data.status === 'online') onlineAt.set(t.lockerId, Math.max(onlineAt.get(t.lockerId) ?? 0, m.data.sentAt));
    } catch {
      // not JSON: the bridge rejects and logs it
    }
  };
  await services.keys.load();
  const transport = new MqttTransport({
    url: o.brokerUrl,
    clientId: config.mqtt.clientId,
    protocolVersion: o.protocolVersion,
    subscriptions: bridgeSubscriptions,
    logger,
    onMessage: (topic, payload) => {
      watchPresence(topic, payload);
      return services.bridge.onMessage(topic, payload);
    },
  });
  services.bridge.attach(transport);
  const app = await buildApp({ ...services, mqttConnected: () => transport.connected });
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    await transport.start();
    services.sweeper.start();
    return {
      url,
      apiKey,
      embedded: true,
      // Two reads for the whole fleet (a poll of 1,000 lockers one by one took seconds under load).
      readyCount: async (lockerIds) => {
        const online = new Set<string>();
        for (let after: string | undefined; ; ) {
          const page = await services.store.lockers.list({ limit: 500, ...(after === undefined ? {} : { afterId: after }) });
          for (const l of page) if (l.online) online.add(l.id);
          after = page.at(-1)?.id;
          if (page.length < 500) break;
        }
        const stale = new Set((await services.store.codeSets.all()).filter((c) => c.ackedVersion !== c.version).map((c) => c.lockerId));
        return lockerIds.filter((id) => online.has(id) && !stale.has(id)).length;
      },
      auditIngested: (lockerId) => services.store.audit.count(lockerId),
      lastOnlinePresence: (lockerId) => onlineAt.get(lockerId),
      stop: async () => {
        await app.close();
        await services.sweeper.stop();
        await transport.stop();
        await services.bridge.idle();
        await store.close();
      },
    };
  } catch (err) {
    await app.close();
    await transport.stop();
    await store.close();
    throw err;
  }
}

const RemoteLocker = z.object({ online: z.boolean() });
const RemoteCodeSet = z.object({ version: z.number().int(), ackedVersion: z.number().int() });

/** A backend someone else runs: the fleet only calls its HTTP API. */
export function remoteFleetBackend(url: string, apiKey: string): FleetBackend {
  const base = url.replace(/\/+$/, '');
  const get = async <T>(path: string, schema: z.ZodType<T>): Promise<T> => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${apiKey}` }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`GET ${path}: ${String(res.status)}`);
    return schema.parse(await res.json());
  };
  return {
    url: base,
    apiKey,
    embedded: false,
    readyCount: async (lockerIds) => {
      const ready = async (id: string): Promise<boolean> => {
        const [locker, codeSet] = await Promise.all([get(`/lockers/${id}`, RemoteLocker), get(`/lockers/${id}/code-set`, RemoteCodeSet)]);
        return locker.online && codeSet.ackedVersion === codeSet.version;
      };
      let n = 0;
      // Sixteen lockers at a time: a poll must not become the external backend's load.
      for (let i = 0; i < lockerIds.length; i += 16) {
        const chunk = await Promise.all(lockerIds.slice(i, i + 16).map((id) => ready(id).catch(() => false)));
        n += chunk.filter(Boolean).length;
      }
      return n;
    },
    stop: () => Promise.resolve(),
  };
}
