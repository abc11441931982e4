import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@locker/device/logger.js';
import { hasMosquitto, MosquittoHarness } from '@locker/sync-testing/mosquitto-harness.js';
import { remoteOpen } from './backend-calls.js';
import { DEFAULT_LOCKERS, parseSessionConfig } from './sim-config.js';
import { SimSession, UnknownLockerError, type SessionEvent } from './sim-session.js';
import { waitUntil } from './wait-for.js';

// The API the console, the scenarios and the web panel share, on real lockers: real
// runtime, SQLite files in a temp dir, the embedded backend and broker (or a real
// Mosquitto and another session's backend as the external ones).

const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sim-session-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(options: { lockers?: number; sync?: boolean; config?: Record<string, unknown> } = {}): Promise<SimSession> {
  const lockers = DEFAULT_LOCKERS.slice(0, options.lockers ?? 1).map((l) => ({ lockerId: l.lockerId, site: { ...l.site } }));
  // A config naming its own lockerId is the old single-locker format: one locker, that one.
  const config = parseSessionConfig(options.config?.['lockerId'] === undefined ? { lockers, ...options.config } : options.config);
  const session = await SimSession.start({ config, dataDir: dataDir(), logger: silentLogger(), sync: options.sync ?? true, say: () => undefined });
  cleanup.push(() => session.close());
  return session;
}

function recorder(session: SimSession, lockerId?: string): SessionEvent[] {
  const events: SessionEvent[] = [];
  cleanup.push(session.subscribe((e) => events.push(e), lockerId));
  return events;
}

const auditSeen = (events: readonly SessionEvent[], type: string): true | undefined =>
  events.some((e) => e.type === 'audit' && e.auditType === type) ? true : undefined;

describe('SimSession', { timeout: 60_000 }, () => {
  it('runs several lockers and keeps their state, events and commands apart', async () => {
    const session = await start({ lockers: 2, sync: false });
    expect(session.lockerIds()).toEqual(['sim-locker-1', 'sim-locker-2']);
    expect(session.resolveLockerId('2')).toBe('sim-locker-2');
    const [first, second] = session.lockers();
    expect(first?.location.city).toBe('Berlin');
    expect(second?.location.city).toBe('Hamburg');
    expect(second?.compartments).toHaveLength(12);
    expect(second?.online).toBeUndefined();
    const onSecond = recorder(session, 'sim-locker-2');
    expect(await session.run('sim-locker-2', 'fault A03 door-jammed')).toEqual(['A03: fault door-jammed injected']);
    expect(onSecond).toContainEqual(expect.objectContaining({ type: 'fault', lockerId: 'sim-locker-2', compartmentId: 'A03', fault: 'door-jammed', active: true }));
    expect(session.locker('sim-locker-2').compartments.find((c) => c.id === 'A03')?.faults).toEqual(['door-jammed']);
    expect(session.locker('sim-locker-1').compartments.find((c) => c.id === 'A03')?.faults).toEqual([]);
    expect(await session.run('sim-locker-1', 'frobnicate')).toEqual(["error: unknown command 'frobnicate' (type 'help' for the list)"]);
    expect(() => session.locker('nope')).toThrow(UnknownLockerError);
    expect(session.history('sim-locker-2').some((e) => e.type === 'fault')).toBe(true);
    expect(session.history('sim-locker-1').some((e) => e.type === 'fault')).toBe(false);
  });

  it('raises an alarm for a door forced open and clears it when the door is closed', async () => {
    const session = await start({ sync: false });
    const id = 'sim-locker-1';
    const events = recorder(session, id);
    await session.run(id, 'fault A04 forced-open');
    await waitUntil(() => events.find((e) => e.type === 'alarm' && e.alarm === 'uncommanded-open' && e.compartmentId === 'A04' && e.active), 'the alarm', 5_000);
    expect(session.describe(events.find((e) => e.type === 'alarm') ?? events[0]!)).toEqual({ tag: 'ALARM', text: 'A04 door opened without a command (forced?)', level: 'alarm' });
    await session.run(id, 'clear-fault A04');
    await session.run(id, 'close A04');
    await waitUntil(() => events.find((e) => e.type === 'alarm' && e.alarm === 'uncommanded-open' && !e.active), 'the alarm cleared', 5_000);
    expect(events.filter((e) => e.type === 'fault').map((e) => (e.type === 'fault' ? e.active : undefined))).toEqual([true, false]);
  });

  it('keeps showing a locker whose power is cut, and refuses commands that need its dead process', async () => {
    const session = await start({ sync: false });
    const id = 'sim-locker-1';
    const events = recorder(session, id);
    await session.run(id, 'service A02 off');
    await session.run(id, 'power-cut 0 300');
    expect(events.filter((e) => e.type === 'power').map((e) => (e.type === 'power' ? e.state : undefined))).toEqual(['off', 'on']);
    // Scheduled: the command returns at once and the cut happens meanwhile.
    expect(await session.run(id, 'power-cut 5 1500')).toEqual(['power cut scheduled in 5 ms (off for 1500 ms)']);
    await waitUntil(() => session.locker(id).power === 'off' || undefined, 'the power off', 2_000, 5);
    expect(session.locker(id).compartments.find((c) => c.id === 'A02')?.outOfService).toBe(true);
    expect(await session.run(id, 'status')).toEqual(['error: sim-locker-1 has no power (a power cut is in progress); its hardware still takes keys, scans, doors and faults']);
    expect(await session.run(id, 'open A01')).toEqual(['A01: the door does not move (latched or jammed)']);
    await waitUntil(() => session.locker(id).power === 'running' || undefined, 'the power back', 5_000);
    expect((await session.run(id, 'status')).some((l) => /A02 +S +out\(operator\)/.test(l))).toBe(true);
  });

  it('announces the wall-clock jump the device detects, while device time keeps going', async () => {
    const session = await start({ sync: false });
    const id = 'sim-locker-1';
    const events = recorder(session, id);
    const before = session.locker(id).clock;
    await session.run(id, 'clock wall -1h');
    await session.run(id, 'clock forward 11s');
    const alarm = await waitUntil(() => events.find((e) => e.type === 'alarm' && e.alarm === 'clock-jump'), 'the clock alarm', 5_000);
    expect(session.describe(alarm)?.text).toBe('the wall clock jumped; device time did not follow it (backward)');
    const after = session.locker(id).clock;
    expect(after.wallSkewMs).toBe(-3_600_000);
    expect((after.deviceMs ?? 0) - (before.deviceMs ?? 0)).toBeGreaterThanOrEqual(11_000);
  });

  it('prints the panel URL once the panel registers it, with the API URL and key', async () => {
    const session = await start({ sync: true });
    const api = session.backend();
    expect(api?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    session.setPanelUrl('http://127.0.0.1:9999/');
    expect(session.urlLines().slice(0, 3)).toEqual(['panel: http://127.0.0.1:9999/', `backend API: ${api?.url ?? ''}`, `API key (this session; roles merchant, carrier, admin): ${api?.apiKey ?? ''}`]);
    const res = await fetch(`${api?.url ?? ''}/lockers/sim-locker-1`, { headers: { authorization: `Bearer ${api?.apiKey ?? ''}` } });
    expect(res.status).toBe(200);
  });

  it('has the backend sell a compartment again once the locker puts it back into service', async () => {
    const session = await start({ sync: true });
    const id = 'sim-locker-1';
    await waitUntil(() => session.locker(id).online, 'the locker online', 10_000);
    const api = session.backend();
    if (api === undefined) throw new Error('no backend');
    const backendState = async (compartmentId: string): Promise<string | undefined> => {
      const res = await fetch(`${api.url}/lockers/${id}`, { headers: { authorization: `Bearer ${api.apiKey}` } });
      const body = (await res.json()) as { compartments: Array<{ id: string; state: string }> };
      return body.compartments.find((c) => c.id === compartmentId)?.state;
    };
    expect(await backendState('A02')).toBe('free');
    await session.run(id, 'service A02 off');
    await waitUntil(async () => ((await backendState('A02')) === 'out_of_service' ? true : undefined), 'A02 out of service at the backend', 10_000);
    await session.run(id, 'service A02 on');
    await waitUntil(async () => ((await backendState('A02')) === 'free' ? true : undefined), 'A02 back in service at the backend', 10_000);
  });

  it('reaches the service open, the remote open and the return drop-off from commands', async () => {
    const session = await start({ sync: true });
    const id = 'sim-locker-1';
    const events = recorder(session, id);
    await waitUntil(() => session.locker(id).online, 'the locker online', 10_000);

    expect(await session.run(id, 'service-open A01')).toEqual(["scanner: a technician's service credential for A01 scanned"]);
    await waitUntil(() => auditSeen(events, 'service.open'), 'service.open', 5_000);
    await waitUntil(() => session.locker(id).compartments[0]?.door === 'open' || undefined, 'A01 open', 5_000);
    await session.run(id, 'close A01');

    // The backend binds a command to the database the locker announced, a little after it is
    // online: until then it answers 409 and stores nothing, so asking again is safe.
    const reply = await waitUntil(
      async () => {
        const r = await session.run(id, 'remote-open A02');
        return /never online/.test(r[0] ?? '') ? undefined : r;
      },
      'the backend knows the locker database',
      10_000,
      200,
    );
    expect(reply[0]).toMatch(/^remote open \S+: replied .*"status":"ok"/);
    expect(auditSeen(events, 'remote.open')).toBe(true);
    await session.run(id, 'close A02');

    // A parcel collected by the customer, then sent back through the backend's return flow.
    const parcel = (await session.run(id, 'parcel S')).join('\n');
    const parcelId = /parcel (\S+) is assigned to/.exec(parcel)?.[1];
    await session.run(id, 'courier');
    await waitUntil(() => /Courier: scan/.test(session.locker(id).display?.text ?? '') || undefined, 'courier prompt', 5_000);
    await session.run(id, `scan ${parcelId ?? ''}`);
    // The device may slot the parcel elsewhere than assigned (the assigned door still busy):
    // its own journal says which door it opened.
    const begun = await waitUntil(
      () => events.find((e): e is Extract<SessionEvent, { type: 'audit' }> => e.type === 'audit' && e.auditType === 'door.open-begun' && e.data['reason'] === 'courier'),
      'the deposit open', 5_000,
    );
    const compartmentId = String(begun.data['compartmentId']);
    await waitUntil(() => session.locker(id).compartments.find((c) => c.id === compartmentId)?.door === 'open' || undefined, 'deposit door', 5_000);
    await session.run(id, `close ${compartmentId ?? ''}`);
    await session.run(id, 'keys C');
    const notice = await waitUntil(() => session.notices(id).find((n) => n.parcelId === parcelId), 'the customer notice', 10_000);
    expect(session.customerNotifications()).toContainEqual(expect.objectContaining({ kind: 'parcel.ready_for_pickup', shipmentId: parcelId, code: notice.code, qrToken: notice.qrToken }));
    await waitUntil(() => !session.locker(id).compartments.some((c) => c.relayOn) || undefined, 'relays off', 5_000);
    await session.run(id, `keys ${notice.code}#`);
    await waitUntil(() => auditSeen(events, 'pickup.collected'), 'pickup', 5_000);
    await session.run(id, `close ${compartmentId ?? ''}`);
    await waitUntil(() => auditSeen(events, 'pickup.door-closed'), 'pickup door closed', 5_000);

    const returned = await session.run(id, `return ${parcelId ?? ''}`);
    const dropoff = /received drop-off code (\d+)/.exec(returned.join('\n'))?.[1];
    if (dropoff === undefined) throw new Error(returned.join('\n'));
    expect(dropoff).toMatch(/^\d{8}$/);
    await waitUntil(() => events.some((e) => e.type === 'code-set' && e.version >= 2) || undefined, 'the drop-off code on the locker', 10_000);
    // The pickup's 500 ms relay pulse may outlast its door's closing, and its open lasts
    // until the pulse ends: the drop-off, which may want that same door, would get "Please
    // wait a moment" (one open per compartment at a time), as a customer would.
    await waitUntil(() => !session.locker(id).compartments.some((c) => c.relayOn) || undefined, 'relays off', 5_000);
    await session.run(id, `keys ${dropoff ?? ''}#`);
    const opened = await waitUntil(
      () => events.find((e): e is Extract<SessionEvent, { type: 'audit' }> => e.type === 'audit' && e.auditType === 'return.dropoff-opened'),
      'the drop-off door', 5_000,
    );
    await session.run(id, `close ${String(opened.data['compartmentId'])}`);
    await waitUntil(() => auditSeen(events, 'return.dropped-off'), 'the return dropped off', 5_000);
    expect(auditSeen(events, 'return.dropped-off')).toBe(true);
  });

  it.skipIf(!hasMosquitto && process.env['CI'] === undefined)('works against a real Mosquitto and an external backend (another session\'s)', async () => {
    const broker = await MosquittoHarness.start();
    cleanup.push(() => broker.close());
    const host = await start({ sync: true, config: { external: { brokerUrl: broker.url } } });
    const api = host.backend();
    if (api === undefined) throw new Error('no backend');
    const remote = await start({
      sync: true,
      config: { lockerId: 'sim-ext-1', external: { brokerUrl: broker.url, backendUrl: api.url, backendApiKey: api.apiKey } },
    });
    expect(remote.backend()).toEqual({ url: api.url, apiKey: api.apiKey, external: true });
    expect(await remote.run('sim-ext-1', 'parcel')).toEqual([`error: with an external backend, place orders through its API (${api.url}); the locker takes part as usual`]);
    expect(await remote.run('sim-ext-1', 'fault A02 sensor-dead')).toEqual(['A02: fault sensor-dead injected']);
    await waitUntil(() => host.locker('sim-locker-1').online, 'the host locker online', 10_000);
    await waitUntil(() => remote.locker('sim-ext-1').online, 'the external locker online over Mosquitto', 10_000);
    // The host backend learns the locker's database epoch from its first announcement.
    const reply = await waitUntil(() => remoteOpen(api, 'sim-ext-1', 'A04', 10_000).catch(() => undefined), 'the remote open to be accepted and answered', 15_000, 200);
    expect(reply.state).toBe('replied');
    await waitUntil(() => remote.locker('sim-ext-1').compartments.find((c) => c.id === 'A04')?.door === 'open' || undefined, 'A04 open at the external locker', 5_000);
  });
});
