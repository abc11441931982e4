import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { WebhookSink } from '@locker/sync-testing/multi-instance/webhook-sink.js';
import { FleetApiClient } from './fleet-api-client.js';
import { remoteFleetBackend, startEmbeddedFleetBackend, type FleetBackend } from './fleet-backend.js';
import type { AgentTuning, LockerAssignment } from './fleet-ipc.js';
import { NoticeBook } from './notice-book.js';
import { WorkerPool } from './worker-pool.js';

// The fleet's composition: a broker (embedded aedes, or a URL), the webhook sink that
// plays the customers' inboxes, a backend (embedded, or a URL and key), the lockers
// registered through the API and started in worker processes. stop() undoes it in reverse,
// workers first so no locker is left running.

export interface FleetSetup {
  lockers: number;
  workers: number;
  compartments: number;
  size: 'S' | 'M' | 'L' | 'XL';
  /** External broker; absent: an embedded aedes broker in this process. */
  mqttUrl?: string | undefined;
  /** MQTT protocol the lockers speak (aedes: 4 only). */
  mqttProtocol: 4 | 5;
  /** External backend; absent: the embedded backend on SQLite in the data dir. */
  backend?: { url: string; apiKey: string; webhookPort: number; webhookSecret: string } | undefined;
  dataDir?: string | undefined;
  keepDataDir: boolean;
  agent: AgentTuning;
  startConcurrency: number;
  /** Locker ids are `<prefix>-0001`…; unique per run against an external backend. */
  prefix: string;
}

export interface Fleet {
  readonly lockerIds: readonly string[];
  readonly pool: WorkerPool;
  readonly backend: FleetBackend;
  readonly api: FleetApiClient;
  readonly notices: NoticeBook;
  readonly sink: WebhookSink;
  readonly brokerUrl: string;
  readonly dataDir: string;
  /** Lockers the backend shows online with their code set acknowledged. */
  backendReady(): Promise<number>;
  stop(): Promise<void>;
}

const Registered = z.object({
  provisioning: z.object({ codePepper: z.string(), keyring: z.array(z.object({ op: z.string(), kid: z.string(), publicKey: z.string().optional() })) }),
});

function registration(id: string, n: number, size: FleetSetup['size'], compartments: Array<{ id: string }>): unknown {
  const allDay = [{ open: '00:00', close: '24:00' }];
  return {
    id,
    name: `Fleet locker ${id}`,
    // Spread over a grid around Berlin, so location search has something to sort.
    location: { lat: 52.4 + (n % 100) / 500, lng: 13.2 + Math.floor(n / 100) / 500 },
    address: { street: `Fleetstraße ${String(n)}`, city: 'Berlin', postalCode: '10117', country: 'DE' },
    openingHours: { mon: allDay, tue: allDay, wed: allDay, thu: allDay, fri: allDay, sat: allDay, sun: allDay },
    status: 'operating',
    compartments: compartments.map((c) => ({ id: c.id, size, dimensions: { widthMm: 400, heightMm: 200, depthMm: 600 } })),
  };
}

async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T, i);
    }),
  );
  return out;
}

/** startFleet was aborted: what it had built is stopped again. */
export class FleetStartInterrupted extends Error {
  constructor(options?: ErrorOptions) {
    super('interrupted while starting', options);
    this.name = 'FleetStartInterrupted';
  }
}

/**
 * `signal`: aborting it while the fleet starts stops what was built and rejects with
 * FleetStartInterrupted — at once for the workers (a big fleet takes a while to start),
 * between steps for the rest. Aborted later, it still stops the workers at once.
 */
export async function startFleet(s: FleetSetup, logger: Logger, say: (line: string) => void, signal?: AbortSignal): Promise<Fleet> {
  const ownDir = s.dataDir === undefined;
  const dataDir = s.dataDir ?? mkdtempSync(join(tmpdir(), 'locker-fleet-'));
  const undo: Array<() => Promise<void>> = [];
  const unwind = async (): Promise<void> => {
    for (const u of undo.reverse()) await u().catch((err: unknown) => logger.error({ err }, 'fleet.stop_step_failed'));
    undo.length = 0;
    if (ownDir && !s.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const interrupted = (): void => {
    if (signal?.aborted === true) throw new FleetStartInterrupted();
  };
  try {
    interrupted();
    let brokerUrl = s.mqttUrl;
    if (brokerUrl === undefined) {
      const broker = await AedesHarness.start();
      undo.push(() => broker.close());
      brokerUrl = broker.url;
      say(`embedded MQTT broker (aedes) on ${brokerUrl}`);
    }
    interrupted();
    const webhookSecret = s.backend?.webhookSecret ?? randomBytes(24).toString('hex');
    const sink = await WebhookSink.start(webhookSecret, s.backend?.webhookPort ?? 0);
    undo.push(() => sink.close());
    interrupted();
    const backend =
      s.backend === undefined
        ? await startEmbeddedFleetBackend({ dataDir, brokerUrl, protocolVersion: s.mqttProtocol, webhook: { url: sink.url, secret: webhookSecret }, logger })
        : remoteFleetBackend(s.backend.url, s.backend.apiKey);
    undo.push(() => backend.stop());
    say(`${backend.embedded ? 'embedded backend (SQLite)' : 'backend'} at ${backend.url}; notifications received at ${sink.url}`);
    interrupted();
    const api = new FleetApiClient(backend.url, backend.apiKey);

    const compartments = Array.from({ length: s.compartments }, (_, i) => ({ id: `${s.size}${String(i + 1)}`, size: s.size }));
    const lockerIds = Array.from({ length: s.lockers }, (_, i) => `${s.prefix}-${String(i + 1).padStart(4, '0')}`);
    const t0 = performance.now();
    const assignments: LockerAssignment[] = await inParallel(lockerIds, 8, async (id, i) => {
      interrupted();
      const reg = await api.call('POST', '/lockers', Registered, { body: registration(id, i, s.size, compartments), expect: 201 });
      return { id, compartments, provisioning: reg.provisioning };
    });
    say(`registered ${String(lockerIds.length)} lockers in ${String(Math.round(performance.now() - t0))} ms`);

    // Checked and listened to in the same tick: an abort from here on stops the workers.
    interrupted();
    const pool = WorkerPool.spawn(s.workers);
    undo.push(() => pool.stop());
    signal?.addEventListener('abort', () => void pool.stop(), { once: true });
    say(`workers started: pids ${pool.pids.join(' ')}`);
    const t1 = performance.now();
    await pool.start(assignments, { mqttUrl: brokerUrl, dataDir: join(dataDir, 'lockers'), agent: s.agent, startConcurrency: s.startConcurrency });
    interrupted();
    say(`${String(lockerIds.length)} lockers running in ${String(s.workers)} worker(s) after ${String(Math.round(performance.now() - t1))} ms`);

    const notices = new NoticeBook(sink.deliveries);
    const url = brokerUrl;
    return {
      lockerIds,
      pool,
      backend,
      api,
      notices,
      sink,
      brokerUrl: url,
      dataDir,
      backendReady: () => backend.readyCount(lockerIds),
      stop: unwind,
    };
  } catch (err) {
    await unwind();
    // Aborted: a step that failed because the workers were stopping ("worker 0 exited")
    // is the interruption, not a failure of its own.
    if (signal?.aborted === true && !(err instanceof FleetStartInterrupted)) throw new FleetStartInterrupted({ cause: err });
    throw err;
  }
}
