import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ApiKeyEntry } from '../auth/api-key-auth.js';
import { BackendError } from '../shared/errors.js';
import { urlOptionsProblem } from '../store/postgres/pg-session-options.js';
import { CarrierCode } from '../tracking/tracking-event.js';

// The backend's configuration: one zod schema, read from a JSON file (BACKEND_CONFIG) and
// overridden by a few environment variables, validated once at start. Durations are ms.

const minutes = (n: number): number => n * 60_000;
const hours = (n: number): number => n * 3_600_000;

export const SqliteCheckpoint = z.enum(['background', 'inline']);
export type SqliteCheckpoint = z.infer<typeof SqliteCheckpoint>;

export const BackendConfig = z
  .object({
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    http: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8080) }).strict().prefault({}),
    db: z
      .object({
        /** The embedded engine's file, used when no url is given. */
        path: z.string().min(1).default('var/backend.db'),
        /** SQLite: copy the WAL back into the file from a worker thread ('background', off the
         * event loop) or in the writer's COMMIT as SQLite does by default ('inline'). */
        checkpoint: SqliteCheckpoint.default('background'),
        /**
         * postgres://… selects PostgreSQL (several instances may share it); absent: SQLite at `path`.
         * Its `?options=` may hold the operator's own settings (-c name=value); they are merged
         * with the backend's, which it may not set (search_path, idle_in_transaction_session_timeout):
         * the URL would otherwise silently win over db.schema and db.idleInTransactionTimeoutMs.
         */
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
          .superRefine((url, ctx) => {
            const problem = urlOptionsProblem(url);
            if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
          })
          .optional(),
        /** PostgreSQL schema the backend's tables live in (search_path). */
        schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).default('public'),
        /** PostgreSQL connections per instance. */
        poolSize: z.number().int().min(1).max(200).default(16),
        /** application_name of this instance's connections: tells instances apart in pg_stat_activity. */
        applicationName: z.string().regex(/^[\x20-\x7e]{1,63}$/).default('locker-backend'),
        /**
         * How long a new PostgreSQL connection may take before the attempt fails. Without a
         * bound, a server that accepts connections but never answers (a network partition,
         * a frozen host) holds every request that needs a new connection for ever; with it
         * they answer 503 DB_UNAVAILABLE (docs/operations.md, "PostgreSQL outage"). The
         * same bound caps the wait for a pooled connection when all are busy (pg-pool uses
         * one setting for both): a saturated pool sheds load with 503 after it.
         */
        connectTimeoutMs: z.number().int().min(100).max(120_000).default(5_000),
        /**
         * How long one PostgreSQL statement may go unanswered before the client gives up on
         * it and discards its connection. The connect bound does not cover a connection
         * that froze mid-statement (its server process stopped, the network black-holing
         * its packets): without this the request, and its pooled connection, would wait for
         * ever; with it the request answers 503 DB_UNAVAILABLE. Well above any statement
         * the API runs (migrations are not bounded by it).
         */
        queryTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
        /**
         * PostgreSQL's idle_in_transaction_session_timeout for this instance's sessions: the
         * server ends a transaction left idle between two statements this long, and frees its
         * row locks. An instance whose network black-holes its packets gives up on its side
         * after queryTimeoutMs, but the server would otherwise keep that transaction, and
         * keep every other instance waiting on its rows, until its TCP keepalive gives up
         * (hours). Far above any gap in our own transactions (milliseconds). 0: never.
         * Migrations run without it (open-store.ts): a code step computes between statements.
         */
        idleInTransactionTimeoutMs: z
          .number()
          .int()
          .min(0)
          .max(3_600_000)
          .refine((ms) => ms === 0 || ms >= 1_000, 'must be 0 (never) or at least 1000: a shorter bound would end ordinary transactions')
          .default(60_000),
      })
      .strict()
      .prefault({}),
    keys: z
      .object({
        /** Directory of <kid>.key / <kid>.pub files written by scripts/keygen.ts. */
        dir: z.string().min(1).default('keys'),
        /** Signs new tokens; defaults to the newest kid (kids sort by creation date). */
        activeKid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
        issuer: z.string().min(1).max(64).default('backend'),
        /** Kids that must no longer be trusted anywhere. */
        revokedKids: z.array(z.string()).default([]),
        /** AES-256 key sealing keypad codes at rest; default <dir>/code-data.secret, created if absent. */
        codeKeyFile: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    mqtt: z
      .object({
        /** false runs the HTTP API alone: no locker receives codes or uploads audit. */
        enabled: z.boolean().default(true),
        /** Required while enabled: there is no default broker to connect to by surprise. */
        url: z.string().regex(/^(mqtts?|wss?):\/\//, 'must be an mqtt://, mqtts://, ws:// or wss:// URL').optional(),
        /** Unique per instance: the broker keeps one session per client id. */
        clientId: z.string().min(1).default('backend-sync'),
        /**
         * Set when several instances share the broker: locker uplinks (audit, acks, snapshot
         * requests, command replies, health) are then taken through the MQTT 5 shared
         * subscription $share/<group>/…, so each message reaches one instance. Presence stays
         * a plain subscription on every instance (retained presences are not delivered to
         * shared subscriptions, and every instance re-syncs from them).
         */
        sharedGroup: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
        username: z.string().optional(),
        password: z.string().optional(),
      })
      .strict()
      .refine((m) => !m.enabled || m.url !== undefined, { message: 'required while mqtt.enabled is true (set mqtt.url, or mqtt.enabled: false to run the HTTP API alone)', path: ['url'] })
      .prefault({}),
    reservations: z
      .object({
        holdMs: z.number().int().positive().default(minutes(15)),
        sweepIntervalMs: z.number().int().positive().default(5_000),
        /** Abandoned holds (expired or released, never ordered) are deleted this long after their last change. */
        retentionMs: z.number().int().min(hours(24 * 7), 'reservations.retentionMs: at least seven days (604800000)').default(hours(24 * 30)),
      })
      .strict()
      .prefault({}),
    pickup: z
      .object({
        windowMs: z.number().int().positive().default(hours(72)),
        maxExtensionMs: z.number().int().positive().default(hours(72)),
        codeDigits: z.number().int().min(6).max(12).default(8),
        /** Lifetime of a pickup token: transit time plus the window plus extensions. */
        tokenTtlMs: z.number().int().positive().default(hours(24 * 14)),
        courierTokenTtlMs: z.number().int().positive().default(hours(12)),
        returnTokenTtlMs: z.number().int().positive().default(hours(24 * 7)),
      })
      .strict()
      .prefault({}),
    presence: z.object({ offlineGraceMs: z.number().int().nonnegative().default(minutes(10)) }).strict().prefault({}),
    /**
     * How long an Idempotency-Key is remembered (POST /reservations, POST /orders, and
     * keyed POST /lockers/{id}/commands and /shipments/{id}/pickup-extension): a retry
     * within it gets the first answer again; after it the key is forgotten (the sweeper
     * purges the record) and a request under it is a new request. 24 hours, as payment APIs do.
     */
    idempotency: z
      .object({
        // At least an hour: a shorter window forgets keys clients are still retrying with,
        // and a retry becomes a second hold or order.
        retentionMs: z.number().int().min(hours(1), 'idempotency.retentionMs: at least one hour (3600000)').default(hours(24)),
      })
      .strict()
      .prefault({}),
    codeSync: z
      .object({
        /** At most one code-set snapshot in flight per locker within this window; later requests are coalesced. */
        snapshotWindowMs: z.number().int().nonnegative().default(10_000),
        /**
         * Revoked entries (collected, cancelled, expired) are deleted this long after their
         * token expired; a locker whose set is older than the newest deleted revocation gets a
         * snapshot instead of a delta.
         */
        revokedRetentionMs: z.number().int().min(hours(24), 'codeSync.revokedRetentionMs: at least one day (86400000)').default(hours(24 * 30)),
      })
      .strict()
      .prefault({}),
    notifications: z
      .object({
        pollIntervalMs: z.number().int().positive().default(1_000),
        maxAttempts: z.number().int().positive().default(8),
        baseBackoffMs: z.number().int().positive().default(2_000),
        webhook: z.object({ url: z.url(), secret: z.string().min(16) }).strict().optional(),
        /**
         * Sent and given-up notifications (the customer's name, email, phone) are deleted this
         * long after they were created; pending ones stay until they finish.
         */
        retentionMs: z.number().int().min(hours(24), 'notifications.retentionMs: at least one day (86400000)').default(hours(24 * 30)),
      })
      .strict()
      .prefault({}),
    /**
     * Bearer API keys (SHA-256 digests only). Optional here so that tests and the embedded
     * simulator can build an app without keys; loadConfig, the production path, requires it.
     */
    auth: z
      .object({ apiKeys: z.array(ApiKeyEntry).default([]) })
      .strict()
      .refine((a) => new Set(a.apiKeys.map((k) => k.id)).size === a.apiKeys.length, 'apiKeys: ids must be unique')
      .refine((a) => new Set(a.apiKeys.map((k) => k.sha256)).size === a.apiKeys.length, 'apiKeys: digests must be unique')
      .optional(),
    rateLimit: z
      .object({ windowMs: z.number().int().positive().default(1_000), max: z.number().int().positive().default(200) })
      .strict()
      .prefault({}),
    /**
     * Tracking-provider webhooks (docs/backend.md, "Tracking webhooks"): the secret each provider
     * signs with. A provider without a secret is not accepted: its route answers 503.
     */
    tracking: z
      .object({
        webhooks: z
          .object({
            easypost: z.object({ secret: z.string().min(8) }).strict().optional(),
            aftership: z.object({ secret: z.string().min(8) }).strict().optional(),
          })
          .strict()
          .prefault({}),
        /**
         * Raw provider payloads and dead letters are deleted this long after they were
         * received; the canonical events in history (append-only) are kept. Longer than the
         * dedupe window (30 days), so an investigation of a duplicate still has the raw body.
         */
        rawRetentionMs: z.number().int().min(hours(24 * 30), 'tracking.rawRetentionMs: at least 30 days (2592000000)').default(hours(24 * 90)),
      })
      .strict()
      .prefault({}),
    /**
     * Polling carrier tracking APIs for shipments whose webhooks went quiet (docs/backend.md,
     * "Tracking: polling and ETA"). Off by default: webhooks are the primary source.
     */
    trackingPolling: z
      .object({
        enabled: z.boolean().default(false),
        /** Time between polling rounds. */
        intervalMs: z.number().int().positive().default(5_000),
        /** Schedule entries claimed per round. */
        claimLimit: z.number().int().min(1).max(10_000).default(200),
        /** How long a claim keeps other instances off an entry; must outlast a round's requests. */
        leaseMs: z.number().int().positive().default(minutes(5)),
        requestTimeoutMs: z.number().int().positive().default(10_000),
        /** Carriers with a JSON REST tracking API (tracking/polling/json-rest-carrier-format.ts). */
        carriers: z
          .array(
            z
              .object({
                carrier: CarrierCode,
                baseUrl: z.url(),
                /** The carrier's limit, for all instances together (they share one budget in the database). */
                requestsPerSecond: z.number().positive(),
                burst: z.number().int().min(1).default(1),
                maxBatch: z.number().int().min(1).max(1000).default(50),
                /** Largest answer read, in bytes; a longer one is cancelled and backed off. Default: 64 KiB × maxBatch, within 1–16 MiB. */
                maxResponseBytes: z.number().int().min(64 * 1024).max(256 * 1024 * 1024).optional(),
              })
              .strict(),
          )
          .default([])
          .refine((cs) => new Set(cs.map((c) => c.carrier)).size === cs.length, 'carriers: one entry per carrier'),
      })
      .strict()
      .refine((p) => p.carriers.every((c) => p.leaseMs > p.requestTimeoutMs * Math.ceil(p.claimLimit / c.maxBatch)), {
        message: 'leaseMs must outlast a round (requestTimeoutMs × ceil(claimLimit / maxBatch) for every carrier), or two instances may poll one number',
        path: ['leaseMs'],
      })
      .prefault({}),
  })
  .strict()
  // A replayed hold response must never name a hold the retention already deleted.
  .refine((c) => c.reservations.retentionMs >= c.idempotency.retentionMs, {
    message: 'must be at least idempotency.retentionMs (a replayed response names the hold)',
    path: ['reservations', 'retentionMs'],
  });
export type BackendConfig = z.infer<typeof BackendConfig>;
export type BackendConfigInput = z.input<typeof BackendConfig>;

/** Environment variables that override the file, for containers and tests. */
function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const o: Record<string, Record<string, unknown>> = {};
  const set = (section: string, key: string, value: unknown): void => {
    o[section] = { ...(o[section] ?? {}), [key]: value };
  };
  if (env['BACKEND_PORT'] !== undefined) set('http', 'port', Number(env['BACKEND_PORT']));
  if (env['BACKEND_HOST'] !== undefined) set('http', 'host', env['BACKEND_HOST']);
  if (env['BACKEND_DB_PATH'] !== undefined) set('db', 'path', env['BACKEND_DB_PATH']);
  if (env['BACKEND_DB_URL'] !== undefined) set('db', 'url', env['BACKEND_DB_URL']);
  if (env['BACKEND_DB_SCHEMA'] !== undefined) set('db', 'schema', env['BACKEND_DB_SCHEMA']);
  if (env['BACKEND_KEYS_DIR'] !== undefined) set('keys', 'dir', env['BACKEND_KEYS_DIR']);
  if (env['BACKEND_MQTT_URL'] !== undefined) set('mqtt', 'url', env['BACKEND_MQTT_URL']);
  if (env['BACKEND_MQTT_CLIENT_ID'] !== undefined) set('mqtt', 'clientId', env['BACKEND_MQTT_CLIENT_ID']);
  if (env['BACKEND_MQTT_SHARED_GROUP'] !== undefined) set('mqtt', 'sharedGroup', env['BACKEND_MQTT_SHARED_GROUP']);
  const webhooks: Record<string, unknown> = {};
  if (env['BACKEND_EASYPOST_WEBHOOK_SECRET'] !== undefined) webhooks['easypost'] = { secret: env['BACKEND_EASYPOST_WEBHOOK_SECRET'] };
  if (env['BACKEND_AFTERSHIP_WEBHOOK_SECRET'] !== undefined) webhooks['aftership'] = { secret: env['BACKEND_AFTERSHIP_WEBHOOK_SECRET'] };
  if (Object.keys(webhooks).length > 0) o['tracking'] = { webhooks };
  const top: Record<string, unknown> = { ...o };
  if (env['LOG_LEVEL'] !== undefined) top['logLevel'] = env['LOG_LEVEL'];
  return top;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = b !== null && typeof b === 'object' && !Array.isArray(b) && typeof v === 'object' && v !== null ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

function invalid(issues: string[], source: string | undefined): BackendError {
  // The reason and the file are in the message itself: it is what an operator sees first.
  const where = source === undefined ? 'backend config (no BACKEND_CONFIG file: defaults and environment)' : `backend config ${source}`;
  return new BackendError('CONFIG_INVALID', `${where} is invalid: ${issues.join('; ')}`, { ...(source === undefined ? {} : { file: source }), issues });
}

export function parseConfig(input: unknown, source?: string): BackendConfig {
  const parsed = BackendConfig.safeParse(input);
  if (!parsed.success) throw invalid(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`), source);
  return parsed.data;
}

/** Reads BACKEND_CONFIG (a JSON file) if set, applies env overrides, validates. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): BackendConfig {
  const file = env['BACKEND_CONFIG'];
  let fromFile: Record<string, unknown> = {};
  if (file !== undefined && file !== '') {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new BackendError('CONFIG_INVALID', `cannot read backend config file ${file}: ${err instanceof Error ? err.message : String(err)}`, { file });
    }
  }
  const source = file !== undefined && file !== '' ? file : undefined;
  const config = parseConfig(merge(fromFile, envOverrides(env)), source);
  // A deployed backend never runs open: without keys the code pepper and admin routes
  // would be one HTTP request away for anyone who can reach the port.
  if (config.auth === undefined || config.auth.apiKeys.length === 0) {
    throw invalid(['auth.apiKeys: at least one API key digest is required (make one with: npx tsx backend-sync/scripts/make-api-key.ts ops admin)'], source);
  }
  return config;
}
