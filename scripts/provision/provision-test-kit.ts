import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { apiKeyDigest } from '@locker/backend/auth/api-key-auth.js';
import type { App } from '@locker/backend/http/app.js';
import { systemClock } from '@locker/backend/shared/clock.js';
import type { Logger } from '@locker/backend/shared/logger.js';
import { lockerInput, makeBackend, type BackendFixture } from '@locker/backend/testing/backend-fixture.js';
import type { HardwareConfigInput } from '@locker/hal/hardware-config.js';

// What the provisioning tests share: the real backend (SQLite, keys, HTTP API with API-key
// authentication on a loopback port, real time) and the locker.json an operator writes.

export interface HttpBackend {
  f: BackendFixture;
  app: App;
  url: string;
  /** Bearer key with the merchant, carrier and admin roles. */
  apiKey: string;
  close(): Promise<void>;
}

export async function startHttpBackend(options: { logger?: Logger } = {}): Promise<HttpBackend> {
  const apiKey = `lk_${randomBytes(24).toString('base64url')}`;
  const f = await makeBackend({
    clock: systemClock,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    config: {
      auth: { apiKeys: [{ id: 'ops', roles: ['merchant', 'carrier', 'admin'], sha256: apiKeyDigest(apiKey) }] },
      notifications: { pollIntervalMs: 100 },
    },
  });
  const app = await f.app();
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { f, app, url, apiKey, close: () => f.close() };
}

/** locker.json: the backend registration (S1, M1, M2) and the board's hardware section. */
export function lockerJson(lockerId: string, hardware: HardwareConfigInput, device: Record<string, unknown> = {}): Record<string, unknown> {
  return { registration: lockerInput(lockerId, 52.52, 13.405, { S: 1, M: 2 }), hardware, device };
}

export interface SimulatedHardwareOptions {
  /** Doors open on the unlock pulse and close by themselves after this long (a person at the door). */
  autoCloseAfterMs?: number;
  /** Bench mode: the keypad and scanner are serial ports (socat PTYs in tests). */
  keypadPath?: string;
  scannerPath?: string;
  /** Compartments wired on the board; default S1, M1, M2 as registered. */
  compartmentIds?: readonly string[];
}

export function simulatedHardware(o: SimulatedHardwareOptions = {}): HardwareConfigInput {
  const behaviour = o.autoCloseAfterMs === undefined ? undefined : { autoOpenOnPulse: true, autoCloseAfterMs: o.autoCloseAfterMs };
  return {
    kind: 'simulated',
    compartments: (o.compartmentIds ?? ['S1', 'M1', 'M2']).map((id) => ({ id, ...(behaviour === undefined ? {} : { behaviour }) })),
    ...(o.keypadPath === undefined ? {} : { keypad: { path: o.keypadPath } }),
    ...(o.scannerPath === undefined ? {} : { scanner: { path: o.scannerPath } }),
  };
}

export const repoRoot = join(import.meta.dirname, '..', '..');

/**
 * The command as an operator runs it (tsx, as `npm run provision` does), asynchronously:
 * the backend answers in this process. LOCKER_API_KEY comes only from `env`.
 */
export function runProvisionCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { LOCKER_API_KEY: _, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'provision.ts'), ...args], {
      cwd: repoRoot,
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
