import { spawn } from 'node:child_process';
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
