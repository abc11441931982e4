import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { parseDeviceConfig, type DeviceConfigInput } from '@locker/device/config.js';
import { ProvisionInput, RegistrationResponse } from './provision-input.js';

// One command for an operator to bring a new locker into the fleet: register it with the
// backend (which generates its code pepper and returns it once), make its MQTT credentials
// (username = locker id, a random password; the broker's pattern ACL in
// sync/mosquitto/locker.acl confines every locker to lockers/<its id>/ by username, so a
// new locker needs a password entry and no ACL line of its own), and write the bundle the
// technician copies to the board: device config with the trusted keys and broker
// credentials, and the code pepper file.

export interface ProvisionOptions {
  backendUrl: string;
  apiKey: string;
  input: ProvisionInput;
  brokerUrl: string;
  outDir: string;
  /** Where the bundle's files live on the board. */
  etcDir: string;
  dataDir: string;
  /** When set, the locker's user is added to this Mosquitto password file (make-passwd.sh). */
  mosquittoPasswd?: string;
  firmwareVersion: string;
}

export interface ProvisionResult {
  lockerId: string;
  configPath: string;
  pepperPath: string;
  /** `username password`, for the broker's password file when it was not updated here. */
  brokerEntryPath: string;
  trustedKeys: number;
}

export class ProvisionError extends Error {
  override readonly name = 'ProvisionError';
}

const makePasswd = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'sync', 'mosquitto', 'make-passwd.sh');

function deviceConfig(o: ProvisionOptions, mqttPassword: string, trustedKeys: DeviceConfigInput['trustedKeys']): DeviceConfigInput {
  const { input } = o;
  return {
    ...(input.device as Partial<DeviceConfigInput>),
    lockerId: input.registration.id,
    compartments: input.registration.compartments.map((c) => ({ id: c.id, size: c.size })),
    codePepperFile: join(o.etcDir, 'code-pepper'),
    // locker.db: the name every operator step uses (docs/operations.md's recovery, the
    // pre-update backup in docs/hardware.md); under another name that backup copies nothing.
    dbPath: join(o.dataDir, 'locker.db'),
    trustedKeys,
    sync: { mqtt: { url: o.brokerUrl, username: input.registration.id, password: mqttPassword }, agent: { firmwareVersion: o.firmwareVersion } },
    hardware: input.hardware,
  };
}

async function register(o: ProvisionOptions): Promise<z.infer<typeof RegistrationResponse>> {
  const url = new URL('/lockers', o.backendUrl);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(o.input.registration) });
  } catch (err) {
    throw new ProvisionError(`backend ${url.origin} unreachable: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = await res.text();
  if (res.status === 409) throw new ProvisionError(`locker ${o.input.registration.id} is already registered: its code pepper was shown once at registration and cannot be fetched again`);
  if (res.status !== 201) throw new ProvisionError(`POST ${url.href} answered ${String(res.status)}: ${text.slice(0, 500)}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ProvisionError(`POST ${url.href}: the response is not JSON (${text.slice(0, 200)})`);
  }
  const parsed = RegistrationResponse.safeParse(body);
  if (!parsed.success) throw new ProvisionError(`POST ${url.href}: unexpected response (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  return parsed.data;
}

export async function provisionLocker(o: ProvisionOptions): Promise<ProvisionResult> {
  const lockerId = o.input.registration.id;
  // Check the device side before the backend registers anything: a wiring that does not
  // match the compartments would leave a registered locker whose pepper nobody installed.
  parseDeviceConfig(deviceConfig(o, 'x'.repeat(32), []));
  // And that the bundle can be written: once registered, the pepper exists only in this
  // process's memory, and a failed write would lose it for good (a re-run answers 409).
  const paths = bundlePaths(o.outDir);
  prepareOutDir(o.outDir, paths);

  const { provisioning } = await register(o);
  if (provisioning.lockerId !== lockerId) throw new ProvisionError(`backend registered ${provisioning.lockerId}, not ${lockerId}`);
  const trustedKeys = provisioning.keyring.flatMap((k) => (k.op === 'trust' && k.publicKey !== undefined ? [{ kid: k.kid, publicKey: k.publicKey, ...(k.notAfter === undefined ? {} : { notAfter: k.notAfter }) }] : []));
  if (trustedKeys.length === 0) throw new ProvisionError('the backend returned no key to trust: the board could verify neither its first code batch nor a QR token');

  const mqttPassword = randomBytes(24).toString('base64url');
  const config = parseDeviceConfig(deviceConfig(o, mqttPassword, trustedKeys));

  const { configPath, pepperPath, brokerEntryPath } = paths;
  // 'wx': never overwrite a bundle; the pepper in it is the only copy outside the backend.
  writeFileSync(pepperPath, `${provisioning.codePepper}\n`, { mode: 0o600, flag: 'wx' });
  writeFileSync(configPath, `${JSON.stringify({ ...deviceConfig(o, mqttPassword, trustedKeys), logLevel: config.logLevel }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  writeFileSync(brokerEntryPath, `${lockerId} ${mqttPassword}\n`, { mode: 0o600, flag: 'wx' });
  if (o.mosquittoPasswd !== undefined) {
    try {
      execFileSync('sh', [makePasswd, o.mosquittoPasswd], { input: `${lockerId} ${mqttPassword}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
    } catch (err) {
      // The locker is registered and its bundle is complete: only the broker entry is missing.
      const stderr = (err as { stderr?: Buffer }).stderr?.toString('utf8').trim();
      throw new ProvisionError(
        `locker ${lockerId} registered and its bundle written to ${o.outDir}, but adding its broker user to ${o.mosquittoPasswd} failed (${stderr === undefined || stderr === '' ? (err instanceof Error ? err.message : String(err)) : stderr}): ` +
          `run sync/mosquitto/make-passwd.sh ${o.mosquittoPasswd} < ${brokerEntryPath} on the broker, then reload mosquitto`,
      );
    }
  }
  return { lockerId, configPath, pepperPath, brokerEntryPath, trustedKeys: trustedKeys.length };
}

interface BundlePaths {
  configPath: string;
  pepperPath: string;
  brokerEntryPath: string;
}

function bundlePaths(outDir: string): BundlePaths {
  return { configPath: join(outDir, 'device.json'), pepperPath: join(outDir, 'code-pepper'), brokerEntryPath: join(outDir, 'mosquitto-passwd-entry') };
}

/** Creates the bundle directory (0700) and refuses one that already holds a bundle. */
function prepareOutDir(outDir: string, paths: BundlePaths): void {
  const existing = [paths.configPath, paths.pepperPath, paths.brokerEntryPath].filter((p) => existsSync(p));
  if (existing.length > 0) throw new ProvisionError(`${outDir} already holds a bundle (${existing.join(', ')}): choose an empty directory; nothing was registered`);
  try {
    mkdirSync(outDir, { recursive: true, mode: 0o700 });
    chmodSync(outDir, 0o700);
    accessSync(outDir, constants.W_OK);
  } catch (err) {
    throw new ProvisionError(`cannot write the bundle to ${outDir}: ${err instanceof Error ? err.message : String(err)}; nothing was registered`);
  }
}

export function readProvisionInput(path: string): ProvisionInput {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ProvisionError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = ProvisionInput.safeParse(json);
  if (!parsed.success) throw new ProvisionError(`${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
