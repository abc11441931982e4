import { z } from 'zod';

// The sync agent's configuration, validated at the composition root. Defaults are the
// production values; tests shorten the timers.

export const SyncAgentConfig = z.object({
  firmwareVersion: z.string().min(1).max(64),
  /** 4 = MQTT 3.1.1 (aedes 1.x speaks only this), 5 = MQTT 5 (Mosquitto, production). */
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
  /** MQTT 5 session expiry: how long the broker keeps our subscriptions and queued messages. */
  sessionExpirySeconds: z.number().int().positive().default(7 * 24 * 3600),
  keepaliveSeconds: z.number().int().positive().max(600).default(30),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  reconnect: z
    .object({
      initialMs: z.number().int().positive().default(500),
      maxMs: z.number().int().positive().default(60_000),
      /** Fraction of the delay drawn at random (full jitter would be 1). */
      jitter: z.number().min(0).max(1).default(0.5),
      /** Delay cap for a while after a healthy connection was lost (a broker restart): back within ~1 s. */
      promptMaxMs: z.number().int().positive().default(1_000),
      /** How long after that loss the low cap applies; then the exponential backoff up to maxMs. */
      promptWindowMs: z.number().int().nonnegative().default(300_000),
    })
    .prefault({}),
  audit: z
    .object({
      /** Records per upload message (normal lane). */
      batchSize: z.number().int().positive().max(256).default(200),
      /** Upload messages awaiting an ack at once. */
      maxInFlight: z.number().int().positive().max(64).default(8),
      /** No ack for this long: send everything unacked again (the backend dedupes). */
      ackTimeoutMs: z.number().int().positive().default(15_000),
      /** How often to look for new records when idle. */
      pollMs: z.number().int().positive().default(500),
      /** Acknowledged records are kept this long, then pruned. */
      retentionMs: z.number().int().nonnegative().default(30 * 24 * 3600 * 1000),
      pruneEveryMs: z.number().int().positive().default(3600 * 1000),
    })
    .prefault({}),
  healthIntervalMs: z.number().int().positive().default(60_000),
  /** At most one snapshot request per this interval (a burst of gapped deltas asks once). */
  snapshotRequestIntervalMs: z.number().int().nonnegative().default(5_000),
  /** Security-relevant rejections written to the audit log, per minute; beyond that only counted. */
  rejectionAuditPerMinute: z.number().int().nonnegative().default(20),
  /** Restart delay bounds after an internal failure of the agent. */
  restart: z
    .object({ initialMs: z.number().int().positive().default(1_000), maxMs: z.number().int().positive().default(60_000) })
    .prefault({}),
});
export type SyncAgentConfig = z.infer<typeof SyncAgentConfig>;
export type SyncAgentConfigInput = z.input<typeof SyncAgentConfig>;
