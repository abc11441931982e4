import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import { createNotifier, socatAddressFor } from './sd-notify.js';

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

  it('logs instead of throwing when the relay binary is missing', async () => {
    const notifier = createNotifier({ env: { NOTIFY_SOCKET: '/nonexistent/notify' }, logger: silentLogger(), socatPath: '/nonexistent/socat' });
    expect(() => notifier.notify('READY=1')).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(() => notifier.notify('WATCHDOG=1')).not.toThrow();
    await notifier.close();
  });
});
