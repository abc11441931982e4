import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDeviceConfig, type DeviceConfig } from '@locker/device/config.js';
import { ed25519Kinds } from '@locker/contract/crypto/ed25519.js';
import { CompartmentId, CompartmentSize, LockerId } from '@locker/contract/tokens/claims.js';
import type { KeyringRow } from '@locker/device/store/runtime-store.js';
import type { DataDirPaths } from './data-dir.js';

// The simulated locker's configuration: one zod schema, the type inferred from it. Every
// field has a default, so `npm start` needs no file; a JSON file (--config) overrides any
// part of it. Unknown keys are refused (strict) so a typo is an error, not a silent default.

export interface LayoutEntry {
  id: string;
  size: CompartmentSize;
}

/**
 * A realistic small bank: 12 compartments, most of them small and medium because that is
 * what most parcels need, one XL for the odd bulky one.
 */
export const DEFAULT_LAYOUT: readonly LayoutEntry[] = [
  ...(['A01', 'A02', 'A03', 'A04'] as const).map((id) => ({ id, size: 'S' as const })),
  ...(['A05', 'A06', 'A07', 'A08'] as const).map((id) => ({ id, size: 'M' as const })),
  ...(['A09', 'A10', 'A11'] as const).map((id) => ({ id, size: 'L' as const })),
  { id: 'A12', size: 'XL' as const },
];

const hardwareSchema = z
  .object({
    /** Door sensor debounce: how long a reading must be stable before it counts. */
    debounceMs: z.number().int().min(0).max(5_000).default(50),
    /** Hard ceiling on one relay pulse, enforced by the relay driver. */
    maxPulseMs: z.number().int().min(1).max(10_000).default(2_000),
    /** Solenoid pull-in time of the simulated latches. */
    pulseMs: z.number().int().min(0).max(10_000).default(0),
    scannerMaxLength: z.number().int().min(1).max(65_536).default(2_048),
  })
  .strict();

/** How the simulated person at the locker behaves by default (changeable from the console). */
const personSchema = z
  .object({
    /** Pulls the door the moment the latch releases (a person waiting at the door). */
    autoOpenOnPulse: z.boolean().default(true),
    /** Closes the door by itself this long after it opened; absent = only the console closes it. */
    autoCloseAfterMs: z.number().int().min(0).max(600_000).optional(),
  })
  .strict();

/** Where the locker stands (the backend's registry; the panel shows it). Illustrative defaults. */
const siteSchema = z
  .object({
    name: z.string().min(1).max(120).optional(),
    street: z.string().min(1).max(200).default('Simulatorstraße 1'),
    city: z.string().min(1).max(100).default('Berlin'),
    postalCode: z.string().min(1).max(20).default('10117'),
    country: z.string().length(2).default('DE'),
    lat: z.number().min(-90).max(90).default(52.52),
    lng: z.number().min(-180).max(180).default(13.405),
  })
  .strict();

export const simLockerConfigSchema = z
  .object({
    lockerId: LockerId.default('sim-locker-1'),
    site: siteSchema.prefault({}),
    compartments: z
      .array(z.object({ id: CompartmentId, size: CompartmentSize }).strict())
      .min(1)
      .max(256)
      .default(() => DEFAULT_LAYOUT.map((c) => ({ ...c }))),
    /** Ed25519 adapter of the device (the backend side of the demo always signs with node:crypto). */
    crypto: z.enum(ed25519Kinds).default('node-crypto'),
    // prefault, not default: zod 4 returns a default as-is, prefault parses it so the
    // inner defaults apply.
    hardware: hardwareSchema.prefault({}),
    person: personSchema.prefault({}),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * Device config fields for the runtime (codeLength, timeouts, lockout, clock,
     * doorFailuresBeforeOutOfService, doorFlap), exactly as in a board's config file; the simulator
     * sets identity, paths, hardware and sync itself. Validated by the
     * device's own schema (device/config.ts) so the simulator never drifts from it.
     */
    device: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    const ids = config.compartments.map((c) => c.id);
    if (new Set(ids).size !== ids.length) {
      ctx.addIssue({ code: 'custom', message: 'compartment ids must be unique', path: ['compartments'] });
    }
  });

export type SimLockerConfig = z.infer<typeof simLockerConfigSchema>;
export type SimLockerConfigInput = z.input<typeof simLockerConfigSchema>;

export class SimConfigError extends Error {
  override readonly name = 'SimConfigError';
}

/** Validates untrusted input; throws SimConfigError listing every issue. */
export function parseSimConfig(input: unknown): SimLockerConfig {
  const result = simLockerConfigSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new SimConfigError(`invalid simulator config: ${issues.join('; ')}`, { cause: result.error });
  }
  return result.data;
}

/** Keys of the device config the simulator sets itself, from the fields above and the data dir. */
const derivedDeviceKeys = ['lockerId', 'compartments', 'codePepperFile', 'dbPath', 'crypto', 'logLevel', 'hardware', 'sync', 'trustedKeys'];

/**
 * The device config a board with this layout would have, built from the simulator config
 * and validated by the device's schema: the runtime gets exactly what it would get there.
 */
/**
 * `trustedKeys`: the provisioning bundle's keyring when the locker was registered with the
 * embedded backend, written into the device config exactly as an installer writes a board's.
 */
export function simDeviceConfig(config: SimLockerConfig, paths: DataDirPaths, trustedKeys: readonly KeyringRow[] = []): DeviceConfig {
  const clash = Object.keys(config.device).find((k) => derivedDeviceKeys.includes(k));
  if (clash !== undefined) throw new SimConfigError(`device.${clash} is set by the simulator; use the top-level field or the data dir`);
  try {
    return parseDeviceConfig({
      ...config.device,
      lockerId: config.lockerId,
      compartments: config.compartments,
      codePepperFile: paths.codePepper,
      dbPath: paths.database,
      crypto: config.crypto,
      logLevel: config.logLevel,
      trustedKeys: trustedKeys.filter((k) => !k.revoked).map((k) => ({ kid: k.kid, publicKey: k.publicKey, ...(k.notAfter === undefined ? {} : { notAfter: k.notAfter }) })),
      hardware: { kind: 'simulated', compartments: config.compartments.map((c) => ({ id: c.id })), ...config.hardware },
    });
  } catch (err) {
    throw new SimConfigError(err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/** Reads a JSON config file; no path = all defaults. */
export function loadSimConfig(path: string | undefined): SimLockerConfig {
  if (path === undefined) return parseSimConfig({});
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SimConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch (err) {
    throw new SimConfigError(`config file ${path} is not valid JSON`, { cause: err });
  }
  return parseSimConfig(json);
}

// ---------------------------------------------------------------------------------------
// The session: several lockers, one backend, one broker. A file may be the old
// single-locker config (top-level lockerId, compartments, ...: one locker) or name
// `lockers`, each entry overriding the top-level fields for that locker. No file: three
// lockers in three cities.

/** Default lockers of a session: different places, same layout. */
export const DEFAULT_LOCKERS = [
  { lockerId: 'sim-locker-1', site: { name: 'Berlin Hauptbahnhof', street: 'Europaplatz 1', city: 'Berlin', postalCode: '10557', lat: 52.525, lng: 13.369 } },
  { lockerId: 'sim-locker-2', site: { name: 'Hamburg Altona', street: 'Paul-Nevermann-Platz 1', city: 'Hamburg', postalCode: '22765', lat: 53.552, lng: 9.935 } },
  { lockerId: 'sim-locker-3', site: { name: 'München Marienplatz', street: 'Marienplatz 8', city: 'München', postalCode: '80331', lat: 48.137, lng: 11.575 } },
] as const;

const externalSchema = z
  .object({
    /** An external MQTT broker (e.g. a real Mosquitto) instead of the embedded one. */
    brokerUrl: z.string().url().refine((u) => /^mqtts?:\/\//.test(u), 'mqtt:// or mqtts://').optional(),
    /** An external backend (e.g. backend-sync on PostgreSQL) instead of the embedded one. */
    backendUrl: z.string().url().refine((u) => /^https?:\/\//.test(u), 'http:// or https://').optional(),
    /** Bearer key for the external backend (roles merchant, carrier, admin). */
    backendApiKey: z.string().min(8).optional(),
  })
  .strict()
  .refine((e) => (e.backendUrl === undefined) === (e.backendApiKey === undefined), 'backendUrl and backendApiKey go together')
  .refine((e) => e.backendUrl === undefined || e.brokerUrl !== undefined, 'an external backend needs the external broker it listens on (brokerUrl)');

const sessionFileSchema = z
  .object({
    lockers: z.array(z.record(z.string(), z.unknown())).min(1).max(64).optional(),
    external: externalSchema.optional(),
  })
  .catchall(z.unknown());

export type ExternalConfig = z.infer<typeof externalSchema>;

export interface SimSessionConfig {
  lockers: SimLockerConfig[];
  external: ExternalConfig;
}

/**
 * Validates a session config. Top-level locker fields are defaults for every locker; an
 * old single-locker file (no `lockers`) describes exactly one locker.
 */
export function parseSessionConfig(input: unknown): SimSessionConfig {
  const parsed = sessionFileSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new SimConfigError(`invalid simulator config: ${issues.join('; ')}`, { cause: parsed.error });
  }
  const { lockers, external, ...shared } = parsed.data;
  const singleLocker = lockers === undefined && Object.keys(shared).length > 0 && ('lockerId' in shared || 'compartments' in shared);
  const entries: readonly Record<string, unknown>[] = lockers ?? (singleLocker ? [{}] : DEFAULT_LOCKERS);
  const configs = entries.map((entry, i) => {
    try {
      return parseSimConfig({ ...shared, ...entry });
    } catch (err) {
      throw new SimConfigError(`lockers.${String(i)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
  const ids = configs.map((c) => c.lockerId);
  if (new Set(ids).size !== ids.length) throw new SimConfigError('invalid simulator config: locker ids must be unique');
  return { lockers: configs, external: external ?? {} };
}

/** Reads a JSON session config file; no path = three default lockers. */
export function loadSessionConfig(path: string | undefined): SimSessionConfig {
  if (path === undefined) return parseSessionConfig({});
  return parseSessionConfig(readJson(path));
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SimConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new SimConfigError(`config file ${path} is not valid JSON`, { cause: err });
  }
}

/** Command-line flags over the file's `external` section, validated together. */
export function withExternal(config: SimSessionConfig, overrides: ExternalConfig): SimSessionConfig {
  const merged = { ...config.external, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  const parsed = externalSchema.safeParse(merged);
  if (!parsed.success) {
    throw new SimConfigError(`invalid broker/backend settings: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return { ...config, external: parsed.data };
}
