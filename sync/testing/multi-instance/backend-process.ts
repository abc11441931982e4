import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BACKEND_NODE_FLAGS } from '@locker/backend/node-flags.js';
import { freePort } from '../free-port.js';

// One backend instance as its own OS process — the real composition root
// (backend-sync/main.ts) with a config file — so a test can SIGKILL it mid-load and start
// it again, as systemd would. Instances of one deployment share the PostgreSQL schema,
// the keys directory and the broker, and differ only in HTTP port and MQTT client id.

const requireFromHere = createRequire(import.meta.url);
const backendMain = join(dirname(requireFromHere.resolve('@locker/backend/package.json')), 'main.ts');

interface CommonOptions {
  name: string;
  dir: string;
  pgUrl: string;
  schema: string;
  keysDir: string;
  apiKeySha256: string;
  webhook?: { url: string; secret: string };
  /** PostgreSQL connections of this instance (default 8). */
  poolSize?: number;
}

/**
 * An instance on the shared broker (mqttUrl), or — for an HTTP-only load such as the
 * PostgreSQL bench — with MQTT switched off, as the config's `mqtt.enabled: false` does.
 */
export type BackendProcessOptions = CommonOptions & ({ mqttUrl: string } | { mqtt: { enabled: false } });

export class BackendProcess {
  private child: ChildProcess | undefined;
  private output = '';
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly configPath: string,
  ) {}

  static async start(o: BackendProcessOptions): Promise<BackendProcess> {
    const port = await freePort();
    const configPath = join(o.dir, `${o.name}.json`);
    const config = {
      logLevel: 'warn',
      http: { host: '127.0.0.1', port },
      db: { url: o.pgUrl, schema: o.schema, poolSize: o.poolSize ?? 8, applicationName: BackendProcess.applicationName(o.name, o.schema) },
      keys: { dir: o.keysDir },
      mqtt: 'mqttUrl' in o ? { url: o.mqttUrl, clientId: `backend-${o.name}`, sharedGroup: 'fleet' } : { enabled: false },
      auth: { apiKeys: [{ id: 'fleet-test', roles: ['admin', 'merchant', 'carrier', 'customer-page'], sha256: o.apiKeySha256 }] },
      reservations: { sweepIntervalMs: 250 },
      notifications: { pollIntervalMs: 100, baseBackoffMs: 200, ...(o.webhook === undefined ? {} : { webhook: o.webhook }) },
      rateLimit: { windowMs: 1000, max: 1_000_000 },
    };
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const p = new BackendProcess(o.name, port, configPath);
    await p.launch();
    return p;
  }

  /** application_name of this instance's PostgreSQL connections (its backends in pg_stat_activity). */
  static applicationName(name: string, schema: string): string {
    return `backend-${name} ${schema}`.slice(0, 63);
  }

  /** The OS process id of the current run (undefined before start). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${String(this.port)}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** stdout/stderr of the current and earlier runs (the tail), for failing tests. */
  get log(): string {
    return this.output;
  }

  private async launch(): Promise<void> {
    const child = spawn(process.execPath, [...BACKEND_NODE_FLAGS, '--import', 'tsx', backendMain], {
      env: { ...process.env, BACKEND_CONFIG: this.configPath, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-50_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // If the test process dies (a timeout, a crash), its backends must not live on.
    const reap = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', reap);
    child.once('exit', () => process.removeListener('exit', reap));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!this.running) throw new Error(`backend ${this.name} exited while starting:\n${this.output}`);
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`backend ${this.name} did not answer /health:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL: no shutdown code runs (in-flight requests, transactions and MQTT session just die). */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** SIGTERM and wait: the graceful stop. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}
