import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Logger } from 'pino';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { PublicKeyText } from '@locker/contract/codes/code-batch.js';
import { decodeBase64UrlStrict } from '@locker/contract/crypto/base64url.js';
import type { KeyringRow } from '@locker/device/store/runtime-store.js';
import { loadOrCreateSigningKey } from './backend-signing-key.js';
import type { DataDirPaths } from './data-dir.js';
import { registration, startEmbeddedBackend, type EmbeddedBackend } from './embedded-backend.js';
import type { ExternalConfig, SimLockerConfig } from './sim-config.js';
import type { SessionTime } from './session-time.js';
import { EmbeddedBroker } from './sync-link.js';

// The network side every locker of a session shares: the MQTT broker (embedded aedes, or
// an external one such as a real Mosquitto) and the backend (embedded backend-sync on
// SQLite in the data dir, or an external one reached by URL and API key). Offline there is
// neither. Lockers are provisioned here before they open: a new locker's code pepper comes
// from its registration.

export interface BackendApi {
  /** Base URL of the backend's HTTP API. */
  url: string;
  /** Bearer key for it (roles merchant, carrier, admin): printed for the session. */
  apiKey: string;
  /** True for a backend this process did not start. */
  external: boolean;
}

export interface SimNetwork {
  /** Where lockers connect (undefined offline). */
  readonly brokerUrl: string | undefined;
  /** The embedded backend, when this process runs one (the demo reads the customer's code from it). */
  readonly backend: EmbeddedBackend | undefined;
  readonly api: BackendApi | undefined;
  /** Registers the locker at first start and returns the keyring installed on it. */
  provision(locker: SimLockerConfig, paths: DataDirPaths): Promise<KeyringRow[]>;
  stop(): Promise<void>;
}

export interface SimNetworkOptions {
  /** false: offline lockers, no broker and no backend. */
  sync: boolean;
  external: ExternalConfig;
  /** The session's data dir (backend database and signing keys). */
  paths: Pick<DataDirPaths, 'backendDatabase' | 'backendKeys' | 'root'>;
  logLevel: SimLockerConfig['logLevel'];
  logger: Logger;
  say: (line: string) => void;
  time?: SessionTime;
}

export async function startSimNetwork(options: SimNetworkOptions): Promise<SimNetwork> {
  const { say, external } = options;
  if (!options.sync) {
    return { brokerUrl: undefined, backend: undefined, api: undefined, provision: () => Promise.resolve([]), stop: () => Promise.resolve() };
  }
  const broker = external.brokerUrl === undefined ? await EmbeddedBroker.start() : undefined;
  const brokerUrl = external.brokerUrl ?? broker?.url;
  if (brokerUrl === undefined) throw new Error('no broker');
  say(broker === undefined ? `external MQTT broker ${brokerUrl}` : `embedded MQTT broker (aedes) on ${brokerUrl}`);
  if (external.backendUrl !== undefined && external.backendApiKey !== undefined) {
    const api: BackendApi = { url: external.backendUrl.replace(/\/$/, ''), apiKey: external.backendApiKey, external: true };
    say(`external backend ${api.url}`);
    return {
      brokerUrl, backend: undefined, api,
      provision: (locker, paths) => provisionExternally(api, locker, paths, say),
      stop: async () => {
        await broker?.close();
      },
    };
  }
  // The backend signs with node:crypto whatever the device uses (FACTS.md: ~140x faster).
  const key = loadOrCreateSigningKey(options.paths.backendKeys, createEd25519('node-crypto'));
  say(key.created ? `backend signing key ${key.kid} generated in ${options.paths.backendKeys}` : `backend signing key ${key.kid} loaded from ${options.paths.backendKeys}`);
  let backend: EmbeddedBackend;
  try {
    backend = await startEmbeddedBackend({
      logLevel: options.logLevel, paths: options.paths, brokerUrl, key, logger: options.logger, say,
      ...(options.time === undefined ? {} : { clock: options.time.backendClock() }),
    });
  } catch (err) {
    await broker?.close();
    throw err;
  }
  say(`backend (backend-sync) running: HTTP API ${backend.url}, database ${options.paths.backendDatabase}`);
  const started = backend;
  return {
    brokerUrl, backend, api: { url: backend.url, apiKey: backend.apiKey, external: false },
    provision: (locker, paths) => started.provision(locker, paths),
    stop: async () => {
      await started.stop().catch((err: unknown) => options.logger.error({ err }, 'simulator.backend-stop-failed'));
      await broker?.close().catch((err: unknown) => options.logger.error({ err }, 'simulator.broker-stop-failed'));
    },
  };
}

const Provisioning = z.object({
  provisioning: z.object({
    codePepper: z.string(),
    keyring: z.array(z.object({ op: z.literal('trust'), kid: z.string(), publicKey: PublicKeyText, notAfter: z.number().int().positive().optional() })),
  }),
});

/**
 * Registers the locker with an external backend over its API (POST /lockers) and installs
 * the provisioning bundle. A locker the backend already knows must have its pepper here.
 */
async function provisionExternally(api: BackendApi, locker: SimLockerConfig, paths: DataDirPaths, say: (line: string) => void): Promise<KeyringRow[]> {
  const headers = { authorization: `Bearer ${api.apiKey}`, 'content-type': 'application/json' };
  const known = await fetch(`${api.url}/lockers/${encodeURIComponent(locker.lockerId)}`, { headers });
  if (known.ok) {
    if (!existsSync(paths.codePepper) || !existsSync(paths.provisionedKeyring)) {
      throw new Error(`the backend at ${api.url} already knows ${locker.lockerId}, but its provisioning bundle is not in ${paths.root}: use another locker id or data dir`);
    }
    return readKeyring(paths.provisionedKeyring);
  }
  const res = await fetch(`${api.url}/lockers`, { method: 'POST', headers, body: JSON.stringify(registration(locker)) });
  const text = await res.text();
  if (!res.ok) throw new Error(`backend POST /lockers: HTTP ${String(res.status)} ${text.slice(0, 300)}`);
  const parsed = Provisioning.safeParse(JSON.parse(text) as unknown);
  if (!parsed.success) throw new Error('backend returned no provisioning bundle');
  const pepper = decodeBase64UrlStrict(parsed.data.provisioning.codePepper);
  if (pepper === undefined) throw new Error('backend returned an unreadable code pepper');
  writeFileSync(paths.codePepper, `${Buffer.from(pepper).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  const rows: KeyringRow[] = parsed.data.provisioning.keyring.map((k) => ({ kid: k.kid, publicKey: k.publicKey, revoked: false, ...(k.notAfter === undefined ? {} : { notAfter: k.notAfter }) }));
  writeFileSync(paths.provisionedKeyring, `${JSON.stringify(rows, null, 2)}\n`, { mode: 0o600 });
  say(`locker ${locker.lockerId} registered with the backend at ${api.url}; provisioning bundle installed`);
  return rows;
}

const KeyringFile = z.array(z.object({ kid: z.string(), publicKey: PublicKeyText, revoked: z.literal(false), notAfter: z.number().int().positive().optional() }));

function readKeyring(path: string): KeyringRow[] {
  const rows = KeyringFile.parse(JSON.parse(readFileSync(path, 'utf8')) as unknown);
  return rows.map((r) => ({ kid: r.kid, publicKey: r.publicKey, revoked: r.revoked, ...(r.notAfter === undefined ? {} : { notAfter: r.notAfter }) }));
}
