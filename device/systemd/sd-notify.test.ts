import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import { createNotifier, socatAddressFor, type SpawnRelay } from './sd-notify.js';

describe('sd_notify client', () => {
  it('addresses an abstract NOTIFY_SOCKET (leading @) in the abstract namespace and a path as a path', () => {
    expect(socatAddressFor('@/org/freedesktop/systemd1/notify/123')).toBe('ABSTRACT-SENDTO:/org/freedesktop/systemd1/notify/123');
    expect(socatAddressFor('/run/systemd/notify')).toBe('UNIX-SENDTO:/run/systemd/notify');
  });

  it('is disabled and silent outside systemd', async () => {
    const notifier = createNotifier({ env: {}, logger: silentLogger() });
    expect(notifier.enabled).toBe(false);
    notifier.notify('READY=1');
    await notifier.close();
  });

  it('logs once instead of throwing, and stops respawning, when the relay binary is missing', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    let spawns = 0;
    const spawnRelay: SpawnRelay = (command, args) => {
      spawns += 1;
      return spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    };
    const notifier = createNotifier({ env: { NOTIFY_SOCKET: '/nonexistent/notify' }, logger, socatPath: '/nonexistent/socat', spawnRelay });
    expect(() => notifier.notify('READY=1')).not.toThrow();
    const deadline = Date.now() + 10_000;
    while (!lines.some((l) => l.includes('sd-notify.relay-failed')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(() => notifier.notify('WATCHDOG=1')).not.toThrow();
    expect(spawns).toBe(1);
    expect(lines.filter((l) => l.includes('sd-notify.relay-failed'))).toHaveLength(1);
    await notifier.close();
  });
});

describe('sd_notify client out of file descriptors', () => {
  it('logs the failed relay start instead of throwing, and pings again once descriptors are free', async () => {
    if (!(await hasSocat())) {
      if (process.env['CI'] !== undefined) throw new Error('socat is required on CI');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'sd-emfile-'));
    const socketPath = join(dir, 'notify');
    // systemd's side: one datagram socket, everything received on stdout.
    const receiver = spawn('socat', ['-u', `UNIX-RECV:${socketPath}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let received = '';
    receiver.stdout.on('data', (b: Buffer) => (received += b.toString()));
    try {
      const deadline = Date.now() + 10_000;
      while (!existsSync(socketPath) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const child = fileURLToPath(new URL('./sd-notify-emfile-child.ts', import.meta.url));
      // Room for node and tsx to start, little beyond: the child takes the rest itself.
      // Paths as positional arguments: a clone path with quotes or $ in it stays one word.
      const r = spawnSync('sh', ['-c', 'ulimit -n 256 && exec "$0" --import tsx "$1"', process.execPath, child], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NOTIFY_SOCKET: socketPath } });
      const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; err?: { message?: string } });
      expect(r.stderr).not.toMatch(/TypeError|Unhandled|EMFILE/);
      expect(r.status).toBe(0);
      // (The log redacts every `code` field: pickup codes must never reach it.)
      expect(lines.find((l) => l.msg === 'sd-notify.relay-failed')?.err?.message).toMatch(/EMFILE/);
      const pinged = Date.now() + 10_000;
      while (!received.includes('WATCHDOG=1') && Date.now() < pinged) await new Promise((r) => setTimeout(r, 10));
      expect(received).toContain('WATCHDOG=1');
    } finally {
      receiver.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

async function hasSocat(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('socat', ['-V'], { stdio: 'ignore' });
    p.on('error', () => resolve(false));
    p.on('exit', (code) => resolve(code === 0));
  });
}
