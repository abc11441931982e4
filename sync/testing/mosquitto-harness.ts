import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { BrokerHarness } from './broker-harness.js';
import { freePort, waitForPort } from './free-port.js';

// A private Mosquitto for tests: its own generated config, port and persistence directory
// in a temp dir, never the system broker on 1883. kill() is SIGKILL (no clean shutdown,
// no final persistence write), restart() starts it again on the same port with the same
// persistence directory, as a supervisor would after a crash.

const candidates = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'];

export function mosquittoBinary(): string | undefined {
  return candidates.find((p) => existsSync(p));
}

export const hasMosquitto = mosquittoBinary() !== undefined;

export interface MosquittoOptions {
  /** Extra config lines (password_file, acl_file, allow_anonymous false…). */
  extraConfig?: string[];
  /** Default true: anonymous clients allowed (the ACL test turns it off). */
  allowAnonymous?: boolean;
  autosaveIntervalS?: number;
}

export class MosquittoHarness implements BrokerHarness {
  readonly name = 'mosquitto';
  readonly protocolVersion = 5;
  private child: ChildProcess | undefined;
  private stderr = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly binary: string,
    private readonly confPath: string,
  ) {}

  static async start(options: MosquittoOptions = {}): Promise<MosquittoHarness> {
    const binary = mosquittoBinary();
    if (binary === undefined) throw new Error('mosquitto binary not found (apt-get install mosquitto)');
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sync-mosquitto-'));
    const confPath = join(dir, 'mosquitto.conf');
    const lines = [
      `listener ${String(port)} 127.0.0.1`,
      `allow_anonymous ${options.allowAnonymous === false ? 'false' : 'true'}`,
      // Run as whoever runs the tests: started as root, mosquitto would otherwise drop to
      // the 'mosquitto' user and lose access to the 0700 temp dir (password file, persistence).
      `user ${userInfo().username}`,
      'set_tcp_nodelay true',
      'persistence true',
      `persistence_location ${dir}/`,
      `autosave_interval ${String(options.autosaveIntervalS ?? 1)}`,
      'max_queued_messages 100000',
      'max_inflight_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      ...(options.extraConfig ?? []),
    ];
    writeFileSync(confPath, lines.join('\n') + '\n');
    const harness = new MosquittoHarness(port, dir, binary, confPath);
    await harness.launch();
    return harness;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${String(this.port)}`;
  }

  /** What the broker wrote to stderr (errors and warnings), for failing tests. */
  get log(): string {
    return this.stderr;
  }

  private async launch(): Promise<void> {
    const child = spawn(this.binary, ['-c', this.confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-20_000);
    });
    this.child = child;
    try {
      await waitForPort(this.port, 5000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`mosquitto did not start: ${this.stderr}`, { cause: err });
    }
  }

  /**
   * SIGHUP: Mosquitto re-reads its password and ACL files (how an operator admits a newly
   * provisioned locker without dropping connected clients). Returns at once; the reload
   * happens shortly after, so a caller waits for what it expects (a login that works).
   */
  reload(): void {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) throw new Error('mosquitto is not running');
    child.kill('SIGHUP');
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async close(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
