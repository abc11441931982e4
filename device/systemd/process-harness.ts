import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Test helpers for the device-process tests: a config dir, the device as a child process
// (device-process-child.ts) with its stdout JSON lines collected, and a fake sd_notify
// socket (socat UNIX-RECV) that records each datagram with its arrival time.

export const hasSocat = spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
if (!hasSocat && process.env['CI'] !== undefined) throw new Error('socat is required on CI for the sd_notify and SIGTERM tests');
if (!hasSocat) console.warn('skipping the sd_notify and SIGTERM process tests: socat is not installed');

export interface TempDir {
  dir: string;
  cleanup(): void;
}

export function tempDir(prefix: string): TempDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeDeviceConfig(dir: string, overrides: Record<string, unknown> = {}): string {
  writeFileSync(join(dir, 'pepper'), `${'ab'.repeat(32)}\n`);
  const config = {
    lockerId: 'locker-board-1',
    compartments: [{ id: 'A01', size: 'M' }, { id: 'A02', size: 'L' }],
    codePepperFile: join(dir, 'pepper'),
    dbPath: join(dir, 'device.db'),
    logLevel: 'info',
    hardware: { kind: 'simulated', compartments: [{ id: 'A01' }, { id: 'A02' }] },
    ...overrides,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return join(dir, 'config.json');
}

export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface JsonLine {
  [key: string]: unknown;
  receivedAt: number;
}

export class DeviceChild {
  readonly lines: JsonLine[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
  private readonly proc: ChildProcessWithoutNullStreams;

  constructor(configPath: string, env: NodeJS.ProcessEnv) {
    const child = join(import.meta.dirname, 'device-process-child.ts');
    this.proc = spawn(process.execPath, ['--import', 'tsx', child, configPath], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let pending = '';
    this.proc.stdout.on('data', (b: Buffer) => {
      const receivedAt = Date.now();
      pending += b.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        try {
          this.lines.push({ ...(JSON.parse(line) as Record<string, unknown>), receivedAt });
        } catch {
          this.lines.push({ raw: line, receivedAt });
        }
      }
    });
    this.proc.stderr.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.proc.on('exit', (code, signal) => (this.exit = { code, signal, at: Date.now() }));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  has(field: 'marker' | 'msg', value: string): boolean {
    return this.lines.some((l) => l[field] === value);
  }

  first(field: 'marker' | 'msg', value: string): JsonLine | undefined {
    return this.lines.find((l) => l[field] === value);
  }

  send(text: string): void {
    this.proc.stdin.write(text);
  }

  signal(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  async kill(): Promise<void> {
    if (this.exit !== undefined) return;
    this.proc.kill('SIGKILL');
    await waitFor(() => this.exit !== undefined, 'the child to die');
  }
}

export interface Datagram {
  text: string;
  at: number;
}

/** A fake NOTIFY_SOCKET: socat receives datagrams on a unix socket and prints them. */
export class FakeNotifySocket {
  readonly received: Datagram[] = [];
  private readonly proc: ChildProcessWithoutNullStreams;

  private constructor(readonly path: string) {
    this.proc = spawn('socat', ['-u', `UNIX-RECV:${path},unlink-early`, '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let pending = '';
    this.proc.stdout.on('data', (b: Buffer) => {
      const at = Date.now();
      pending += b.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const text of parts) if (text.length > 0) this.received.push({ text, at });
    });
  }

  static async open(path: string): Promise<FakeNotifySocket> {
    const socket = new FakeNotifySocket(path);
    await waitFor(() => existsSync(path), 'the fake notify socket');
    return socket;
  }

  count(text: string): number {
    return this.received.filter((d) => d.text === text).length;
  }

  close(): void {
    this.proc.kill('SIGTERM');
  }
}
