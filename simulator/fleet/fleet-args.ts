import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { FleetSetup } from './fleet.js';
import type { LoadOptions } from './load-driver.js';

// `npm run fleet -- --lockers N …`: the flags, validated with zod, turned into the fleet's
// setup and its load. Defaults are the figures measured on a 2-core machine
// (docs/operations.md, "Fleet mode").

export const usage = `usage: npm run fleet -- --lockers N [options]
  --lockers N            simulated lockers (default 10)
  --workers N            worker processes (default: one per 250 lockers)
  --rate R               deposits + pickups per second (default 10)
  --duration S           seconds of load (default 30)
  --pickup-share F       share of deposited parcels collected, 0..1 (default 1)
  --compartments N       compartments per locker, all of --size (default 4)
  --size S|M|L|XL        compartment size (default M)
  --mqtt-url URL         external broker (e.g. a Mosquitto); default an embedded aedes
  --mqtt-protocol 4|5    MQTT version of the lockers (default 4 embedded, 5 external)
  --backend-url URL      external backend; needs --api-key, --webhook-port, --webhook-secret
  --api-key KEY          bearer key with roles merchant, carrier, admin
  --webhook-port P       loopback port where the backend's notification webhook points
  --webhook-secret S     that webhook's signing secret
  --data-dir DIR         where the SQLite files go (default a temp dir, removed at exit)
  --keep                 keep the data dir
  --report-every S       seconds between status lines without a terminal (default 5)
  --summary-json FILE    also write the summary as JSON
  --prefix P             locker id prefix (default fleet-<random>)
  --reconnect-max-ms N   cap of the lockers' reconnect delay after a broker restart (default 2000)
  --start-concurrency N  lockers a worker starts at once (default 25)`;

const Int = (min: number) => z.coerce.number().int().min(min);

const Flags = z
  .object({
    lockers: Int(1).default(10),
    workers: Int(1).optional(),
    rate: z.coerce.number().positive().default(10),
    duration: z.coerce.number().positive().default(30),
    'pickup-share': z.coerce.number().min(0).max(1).default(1),
    compartments: Int(1).max(64).default(4),
    size: z.enum(['S', 'M', 'L', 'XL']).default('M'),
    'mqtt-url': z.string().regex(/^(mqtts?|wss?):\/\//, 'must be an mqtt:// URL').optional(),
    'mqtt-protocol': z.coerce.number().pipe(z.union([z.literal(4), z.literal(5)])).optional(),
    'backend-url': z.url().optional(),
    'api-key': z.string().min(1).optional(),
    'webhook-port': Int(1).max(65535).optional(),
    'webhook-secret': z.string().min(16).optional(),
    'data-dir': z.string().min(1).optional(),
    keep: z.boolean().default(false),
    'report-every': z.coerce.number().positive().default(5),
    'summary-json': z.string().min(1).optional(),
    prefix: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lowercase, digits, dashes').optional(),
    'reconnect-max-ms': Int(100).default(2_000),
    'start-concurrency': Int(1).default(25),
    help: z.boolean().default(false),
  })
  .strict()
  .refine((f) => f['backend-url'] === undefined || (f['api-key'] !== undefined && f['webhook-port'] !== undefined && f['webhook-secret'] !== undefined), {
    message: '--backend-url needs --api-key, --webhook-port and --webhook-secret (the fleet reads pickup codes from the webhook)',
  })
  .refine((f) => f['mqtt-url'] !== undefined || f['mqtt-protocol'] !== 5, { message: 'the embedded broker (aedes) speaks MQTT 3.1.1 only: --mqtt-protocol 5 needs --mqtt-url' });

export interface FleetCli {
  setup: FleetSetup;
  load: Omit<LoadOptions, 'slotsPerLocker' | 'size'>;
  reportEveryS: number;
  summaryJson: string | undefined;
  help: boolean;
}

export class UsageError extends Error {
  readonly code = 'FLEET_USAGE';
}

export function parseFleetArgs(argv: readonly string[]): FleetCli {
  let values: Record<string, unknown>;
  try {
    const strings = ['lockers', 'workers', 'rate', 'duration', 'pickup-share', 'compartments', 'size', 'mqtt-url', 'mqtt-protocol', 'backend-url', 'api-key', 'webhook-port', 'webhook-secret', 'data-dir', 'report-every', 'summary-json', 'prefix', 'reconnect-max-ms', 'start-concurrency'];
    const options = Object.fromEntries([...strings.map((k) => [k, { type: 'string' as const }]), ['keep', { type: 'boolean' as const }], ['help', { type: 'boolean' as const }]]) as Record<string, { type: 'string' | 'boolean' }>;
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const parsed = Flags.safeParse(values);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.length > 0 ? `--${i.path.join('.')}: ` : ''}${i.message}`).join('; '));
  const f = parsed.data;
  const runTag = randomBytes(3).toString('hex');
  const external = f['mqtt-url'] !== undefined;
  return {
    setup: {
      lockers: f.lockers,
      workers: Math.min(f.lockers, f.workers ?? Math.ceil(f.lockers / 250)),
      compartments: f.compartments,
      size: f.size,
      mqttUrl: f['mqtt-url'],
      mqttProtocol: f['mqtt-protocol'] ?? (external ? 5 : 4),
      backend:
        f['backend-url'] === undefined || f['api-key'] === undefined || f['webhook-port'] === undefined || f['webhook-secret'] === undefined
          ? undefined
          : { url: f['backend-url'], apiKey: f['api-key'], webhookPort: f['webhook-port'], webhookSecret: f['webhook-secret'] },
      dataDir: f['data-dir'],
      keepDataDir: f.keep,
      agent: fleetAgentTuning(f['mqtt-protocol'] ?? (external ? 5 : 4), f['reconnect-max-ms']),
      startConcurrency: f['start-concurrency'],
      prefix: f.prefix ?? `fleet-${runTag}`,
    },
    load: { rate: f.rate, durationS: f.duration, pickupShare: f['pickup-share'], runTag },
    reportEveryS: f['report-every'],
    summaryJson: f['summary-json'],
    help: f.help,
  };
}

/**
 * The lockers' agent settings in a fleet: full jitter on reconnect so a broker restart does
 * not bring every client back in the same tick, audit polled every 500 ms (not 25 ms as in
 * tests: 1,000 lockers polling SQLite 40 times a second each would be the whole machine).
 */
export function fleetAgentTuning(protocolVersion: 4 | 5, reconnectMaxMs: number): FleetSetup['agent'] {
  return {
    protocolVersion,
    keepaliveSeconds: 60,
    reconnect: { initialMs: 250, maxMs: Math.max(reconnectMaxMs, 10_000), jitter: 1, promptMaxMs: reconnectMaxMs },
    auditPollMs: 500,
    healthIntervalMs: 60_000,
  };
}
