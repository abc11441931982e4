import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { hardwareConfigSchema } from '@locker/hal/index.js';
import { dailyFailureBudgetFor } from './core/lockout-policy.js';
import { DEFAULT_DOOR_FLAP, doorFlapConfigProblems } from './core/door-flap-guard.js';
import { decodeBase64UrlStrict } from '@locker/contract/crypto/base64url.js';
import { ed25519Kinds } from '@locker/contract/crypto/ed25519.js';
import { DeviceError, isDeviceError } from './errors.js';
import { CompartmentId, CompartmentSize, LockerId } from '@locker/contract/tokens/claims.js';

// The device config file: one zod schema, the type inferred from it. Durations are in
// milliseconds. The code pepper lives in its own file (readable by the device user only),
// never in this JSON and never in the database.

const ms = (min: number, max: number) => z.number().int().min(min).max(max);

export const TimeoutsConfig = z
  .object({
    keypadIdleMs: ms(1_000, 120_000).default(15_000),
    courierSessionMs: ms(10_000, 3_600_000).default(300_000),
    doorOpenWaitMs: ms(500, 120_000).default(10_000),
    leftOpenAlarmMs: ms(1_000, 3_600_000).default(120_000),
    leftOpenRepeatMs: ms(1_000, 3_600_000).default(60_000),
    /** Relay on-time of one unlock pulse (the driver also clamps it to its maxPulseMs). */
    pulseMs: ms(10, 10_000).default(500),
    /** A result message returns to the idle prompt after this long. */
    messageMs: ms(1_000, 120_000).default(8_000),
    /** How often occupied compartments are checked for pickup windows that ended. */
    expirySweepMs: ms(10_000, 86_400_000).default(300_000),
    /** The sweep flags a parcel for return this long after its pickup window ended. */
    expiryGraceMs: ms(0, 30 * 86_400_000).default(86_400_000),
  })
  .strict();

export const LockoutConfig = z
  .object({
    freeAttempts: z.number().int().min(1).max(10).default(3),
    firstLockoutMs: ms(1_000, 3_600_000).default(30_000),
    maxLockoutMs: ms(1_000, 86_400_000).default(900_000),
    quietResetMs: ms(60_000, 86_400_000).default(3_600_000),
    /** The most live codes a locker may hold at once (the guessing odds scale with it). */
    maxLiveCodes: z.number().int().min(1).max(200_000).default(200),
    targetDailyProbability: z.number().positive().max(0.01).default(1e-4),
    budgetCeiling: z.number().int().min(1).max(100_000).default(200),
  })
  .strict();

/** What the device keeps, and for how long (docs/operations.md "Retention"; decision 0022). */
export const RetentionConfig = z
  .object({
    /**
     * Finished open-journal rows, completed commands and closed code entries (collected,
     * retrieved, revoked) that left the backend's set are deleted this long after their
     * last change.
     */
    historyMs: ms(3_600_000, 3650 * 86_400_000).default(30 * 86_400_000),
    /**
     * A spent or revoked token id is deleted once the token's exp is this far behind the
     * clock floor (never the wall clock); an id whose exp is unknown is kept.
     */
    tokenExpiryMarginMs: ms(60_000, 365 * 86_400_000).default(7 * 86_400_000),
    /** How often the retention sweep runs. */
    sweepEveryMs: ms(60_000, 86_400_000).default(3_600_000),
    /** Rows deleted per table and run: a first run after a long time stays short. */
    maxRowsPerTable: z.number().int().min(100).max(1_000_000).default(5_000),
    /** Free 4 KiB pages returned to the file system per run (incremental_vacuum). */
    vacuumPagesPerRun: z.number().int().min(0).max(1_000_000).default(2_048),
  })
  .strict();
export type RetentionConfig = z.infer<typeof RetentionConfig>;

/**
 * When a door sensor counts as flapping (core/door-flap-guard.ts; docs/operations.md "A door
 * jams"): only unexplained changes count. Defaults are the values the guard shipped with,
 * plus a minute-long window for sensors that toggle every few seconds.
 */
export const DoorFlapConfig = z
  .object({
    // Counts have no lower bound here: doorFlapConfigProblems says why fewer than 2 is wrong.
    edges: z.number().int().max(1_000).default(DEFAULT_DOOR_FLAP.edges),
    windowMs: ms(100, 600_000).default(DEFAULT_DOOR_FLAP.windowMs),
    quietMs: ms(100, 3_600_000).default(DEFAULT_DOOR_FLAP.quietMs),
    slowEdges: z.number().int().max(1_000).default(DEFAULT_DOOR_FLAP.slowEdges),
    slowWindowMs: ms(100, 3_600_000).default(DEFAULT_DOOR_FLAP.slowWindowMs),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const p of doorFlapConfigProblems(c)) ctx.addIssue({ code: 'custom', path: [p.key], message: p.message });
  });
export type DoorFlapConfig = z.infer<typeof DoorFlapConfig>;

/**
 * A backend public key trusted from install on (the registration bundle's keyring): the
 * bootstrap keyring. Code batches maintain the keyring after that; a kid they revoke stays
 * revoked whatever this file says (sync/contract/tokens/bootstrap-keyring.ts).
 */
const MIB = 1024 * 1024;

/**
 * The storage reserve (runtime/storage-reserve.ts; docs/operations.md "The disk is full"):
 * a file of `bytes` beside the database, deleted when a write is refused for lack of space
 * so the locker keeps working, taken again once `bytes + restoreMarginBytes` are free.
 */
export const StorageReserveConfig = z
  .object({
    /** 0 disables the reserve (and deletes one left by an earlier config). */
    bytes: z.number().int().min(0).max(1024 * MIB).default(8 * MIB),
    restoreMarginBytes: z.number().int().min(0).max(4096 * MIB).default(32 * MIB),
  })
  .strict();
export type StorageReserveConfig = z.infer<typeof StorageReserveConfig>;

export const TrustedKeyConfig = z
  .object({
    kid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    /** Ed25519 public key, 32 bytes as unpadded base64url (the format of `npm run keygen`). */
    publicKey: z.string().refine((t) => decodeBase64UrlStrict(t)?.length === 32, 'must be 32 bytes of unpadded base64url'),
    /** Epoch ms after which the key is retired (rotation). */
    notAfter: z.number().int().positive().optional(),
  })
  .strict();
export type TrustedKeyConfig = z.infer<typeof TrustedKeyConfig>;

export const DeviceConfig = z
  .object({
    lockerId: LockerId,
    compartments: z.array(z.object({ id: CompartmentId, size: CompartmentSize }).strict()).min(1).max(256),
    codeLength: z.number().int().min(6).max(10).default(8),
    /** File holding the per-locker code pepper (at least 16 bytes, raw or hex). */
    codePepperFile: z.string().min(1),
    dbPath: z.string().min(1),
    crypto: z.enum(ed25519Kinds).default('node-crypto'),
    /** Bootstrap keyring: the backend keys a new board trusts before its first code batch. */
    trustedKeys: z.array(TrustedKeyConfig).max(16).default([]),
    timeouts: TimeoutsConfig.prefault({}),
    lockout: LockoutConfig.prefault({}),
    retention: RetentionConfig.prefault({}),
    /** Consecutive door failures (jam, relay fault, dead sensor) before out of service. */
    doorFailuresBeforeOutOfService: z.number().int().min(1).max(20).default(3),
    /** When a door sensor that keeps changing by itself is reported once as faulty. */
    doorFlap: DoorFlapConfig.prefault({}),
    storageReserve: StorageReserveConfig.prefault({}),
    clock: z
      .object({ toleranceMs: ms(1_000, 86_400_000).default(120_000), tickMs: ms(1_000, 3_600_000).default(10_000) })
      .strict()
      .prefault({}),
    /**
     * The sync agent, run in the same process (docs/decisions/0004). Validated by the
     * agent's own schema when it starts; absent = an offline locker.
     */
    sync: z
      .object({
        mqtt: z.object({ url: z.string().min(1), username: z.string().optional(), password: z.string().optional() }).strict(),
        agent: z.record(z.string(), z.unknown()),
      })
      .strict()
      .optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    hardware: hardwareConfigSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    const kids = c.trustedKeys.map((k) => k.kid);
    if (new Set(kids).size !== kids.length) ctx.addIssue({ code: 'custom', path: ['trustedKeys'], message: 'trusted key kids must be unique' });
    const ids = c.compartments.map((x) => x.id);
    if (new Set(ids).size !== ids.length) ctx.addIssue({ code: 'custom', path: ['compartments'], message: 'compartment ids must be unique' });
    const hw = new Set(c.hardware.compartments.map((x) => x.id));
    for (const id of ids) if (!hw.has(id)) ctx.addIssue({ code: 'custom', path: ['hardware', 'compartments'], message: `no hardware for compartment ${id}` });
    const budget = dailyFailureBudgetFor(c.codeLength, c.lockout.maxLiveCodes, c.lockout.targetDailyProbability);
    if (budget < c.lockout.freeAttempts) {
      ctx.addIssue({
        code: 'custom',
        path: ['codeLength'],
        message: `${String(c.codeLength)}-digit codes with ${String(c.lockout.maxLiveCodes)} live codes allow only ${String(budget)} failures a day: use longer codes or fewer live codes`,
      });
    }
  });
export type DeviceConfig = z.infer<typeof DeviceConfig>;
export type DeviceConfigInput = z.input<typeof DeviceConfig>;

export function parseDeviceConfig(input: unknown): DeviceConfig {
  const result = DeviceConfig.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new DeviceError('CONFIG_INVALID', `invalid device config: ${issues.join('; ')}`, { issues });
  }
  return result.data;
}

export function readDeviceConfigFile(path: string): DeviceConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DeviceError('CONFIG_INVALID', 'device config file is unreadable', { path }, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DeviceError('CONFIG_INVALID', 'device config file is not JSON', { path }, { cause: err });
  }
  try {
    return parseDeviceConfig(json);
  } catch (err) {
    // The file is named in the error so that an operator knows which one to fix.
    if (isDeviceError(err, 'CONFIG_INVALID')) throw new DeviceError('CONFIG_INVALID', err.message, { path, ...err.details });
    throw err;
  }
}

/**
 * The pepper file holds the pepper as hex (the simulator's format), as base64url (the
 * backend's provisioning bundle, pasted as is) or as raw bytes; at least 16 bytes. A text
 * of hex digits is always read as hex, so the two text forms never collide.
 */
export function decodeCodePepper(raw: Uint8Array): Uint8Array {
  const text = Buffer.from(raw).toString('latin1').trim();
  let bytes: Buffer;
  if (/^(?:[0-9a-fA-F]{2})+$/.test(text)) bytes = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9_-]{22,}$/.test(text)) bytes = Buffer.from(text, 'base64url');
  else bytes = Buffer.from(raw);
  if (bytes.length < 16) throw new DeviceError('CONFIG_INVALID', 'code pepper must be at least 16 bytes');
  return new Uint8Array(bytes);
}

export function readCodePepper(path: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new DeviceError('CONFIG_INVALID', 'code pepper file is unreadable', { path }, { cause: err });
  }
  return decodeCodePepper(raw);
}
