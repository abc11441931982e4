import { z } from 'zod';

// The messages between the fleet's parent process and its workers (child_process IPC).
// Both sides parse what they receive: a worker is another process, and a malformed
// message is a bug to name, not a value to trust.

const CompartmentSpec = z.object({ id: z.string().min(1), size: z.enum(['S', 'M', 'L', 'XL']) });

export const LockerAssignment = z.object({
  id: z.string().min(1),
  compartments: z.array(CompartmentSpec).min(1),
  provisioning: z.object({
    codePepper: z.string().min(1),
    keyring: z.array(z.object({ op: z.string(), kid: z.string(), publicKey: z.string().optional() })),
  }),
});
export type LockerAssignment = z.infer<typeof LockerAssignment>;

export const AgentTuning = z.object({
  protocolVersion: z.union([z.literal(4), z.literal(5)]),
  keepaliveSeconds: z.number().int().positive(),
  reconnect: z.object({ initialMs: z.number().int().positive(), maxMs: z.number().int().positive(), jitter: z.number().min(0).max(1), promptMaxMs: z.number().int().positive() }),
  auditPollMs: z.number().int().positive(),
  healthIntervalMs: z.number().int().positive(),
});
export type AgentTuning = z.infer<typeof AgentTuning>;

export const ParentMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('start'),
    mqttUrl: z.string().min(1),
    dataDir: z.string().min(1),
    lockers: z.array(LockerAssignment),
    agent: AgentTuning,
    /** Lockers started at once; the next group waits, so a worker does not open all its connections in one tick. */
    startConcurrency: z.number().int().positive(),
  }),
  z.object({
    type: z.literal('deposit'),
    opId: z.number().int(),
    lockerId: z.string(),
    credential: z.string(),
    shipmentId: z.string(),
    compartmentId: z.string(),
  }),
  z.object({ type: z.literal('pickup'), opId: z.number().int(), lockerId: z.string(), code: z.string(), compartmentId: z.string() }),
  z.object({ type: z.literal('stats') }),
  z.object({ type: z.literal('stop') }),
]);
export type ParentMessage = z.infer<typeof ParentMessage>;

export const WorkerStats = z.object({
  lockers: z.number().int(),
  connected: z.number().int(),
  /** Audit records the lockers wrote, and those the backend acknowledged with a signed ack. */
  auditWritten: z.number().int(),
  auditAcked: z.number().int(),
  rssBytes: z.number().int(),
});
export type WorkerStats = z.infer<typeof WorkerStats>;

export const WorkerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started'), lockers: z.number().int(), ms: z.number() }),
  z.object({
    type: z.literal('op-done'),
    opId: z.number().int(),
    ok: z.boolean(),
    error: z.string().optional(),
    /** Pickups: keypad entry to relay energised, ms on the locker's clock. */
    keypadToRelayMs: z.number().optional(),
  }),
  z.object({ type: z.literal('stats'), stats: WorkerStats }),
  z.object({ type: z.literal('stopped') }),
  z.object({ type: z.literal('failed'), error: z.string() }),
]);
export type WorkerMessage = z.infer<typeof WorkerMessage>;
