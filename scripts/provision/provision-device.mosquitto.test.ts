import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { bridgeSubscriptions } from '@locker/backend/locker-sync/locker-bridge.js';
import { MqttTransport } from '@locker/backend/locker-sync/mqtt-transport.js';
import { silentLogger } from '@locker/backend/shared/logger.js';
import type { SqliteExecutor } from '@locker/backend/store/sqlite/sqlite-executor.js';
import { waitFor } from '@locker/backend/testing/wait-for.js';
import { topicFor } from '@locker/contract/topics.js';
import { hasMosquitto, MosquittoHarness } from '@locker/sync-testing/mosquitto-harness.js';
import { buildProgram } from '../build.js';
import { lockerJson, repoRoot, runProvisionCli, simulatedHardware, startHttpBackend, type HttpBackend } from './provision-test-kit.js';

// Issue 8 end to end: the operator provisions a locker with `npm run provision` against
// the real backend; the broker admits it after a reload; the COMPILED device
// (device/dist/main.js) runs as its own process from the bundle, on simulated compartments
// whose keypad and scanner are real serial ports (socat PTYs, bench mode), connects to a
// private Mosquitto with the generated credentials under the shipped ACL, receives its first
// code batch, takes a courier deposit and a customer's code, and opens the right door. The
// generated credentials cannot read or write another locker's topics.

function socatAvailable(): boolean {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const hasSocat = socatAvailable();
const skip = (!hasMosquitto || !hasSocat) && process.env['CI'] === undefined;
if (skip) console.warn(`provision-device.mosquitto.test.ts skipped: ${hasMosquitto ? '' : 'mosquitto binary not found (apt-get install mosquitto) '}${hasSocat ? '' : 'socat not found (apt-get install socat)'}`);

const LOCKER = 'locker-prov-e2e';
const OTHER = 'locker-prov-other';
const BACKEND_PASSWORD = 'pw-backend-e2e-1';

interface LogLine {
  msg?: string;
  compartmentId?: string;
  [key: string]: unknown;
}

/** One end of a socat PTY pair held open for writing, as the keypad or scanner controller would. */
interface Pty {
  device: string;
  write(text: string): void;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch (err) {
      console.warn('cleanup failed', err);
    }
  }
});

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

async function openPty(dir: string, name: string): Promise<Pty> {
  const device = join(dir, `${name}-device`);
  const peer = join(dir, `${name}-peer`);
  const socat = spawn('socat', [`pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${peer}`], { stdio: 'ignore' });
  cleanups.push(() => stopChild(socat, 'SIGTERM'));
  await waitFor(() => existsSync(device) && existsSync(peer), `socat PTYs for the ${name}`, 5_000);
  // Held open for the whole test: closing the last handle on a PTY end can end socat.
  const fd = openSync(peer, constants.O_RDWR | constants.O_NOCTTY);
  cleanups.push(() => closeSync(fd));
  return { device, write: (text) => void writeSync(fd, text) };
}

describe.skipIf(skip)('provisioning a locker end to end (compiled device, private Mosquitto)', () => {
  it('provisions, admits and runs a locker that takes its first batch, a deposit and a pickup, confined to its own topics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-e2e-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const say = (line: string): void => void process.stdout.write(`  · ${line}\n`);

    // The broker as in production: passwords, the shipped ACL, client id forced to the username.
    const passwd = join(dir, 'passwd');
    execFileSync('sh', [join(repoRoot, 'sync', 'mosquitto', 'make-passwd.sh'), passwd], { input: `backend ${BACKEND_PASSWORD}\n` });
    const broker = await MosquittoHarness.start({
      allowAnonymous: false,
      extraConfig: [`password_file ${passwd}`, `acl_file ${join(repoRoot, 'sync', 'mosquitto', 'locker.acl')}`, 'use_username_as_clientid true'],
    });
    cleanups.push(() => broker.close());

    // The real backend: HTTP API with an admin key, its MQTT bridge as the `backend` user.
    const backend: HttpBackend = await startHttpBackend();
    cleanups.push(() => backend.close());
    const { f } = backend;
    let transport: MqttTransport | undefined = new MqttTransport({
      url: broker.url, clientId: 'backend-sync', username: 'backend', password: BACKEND_PASSWORD, protocolVersion: 5,
      subscriptions: bridgeSubscriptions, logger: silentLogger(), onMessage: (t, p) => f.services.bridge.onMessage(t, p),
    });
    f.services.bridge.attach(transport);
    await transport.start();
    cleanups.push(() => transport?.stop());
    f.services.sweeper.start();

    const keypad = await openPty(dir, 'keypad');
    const scanner = await openPty(dir, 'scanner');

    // The operator: locker.json, then `npm run provision` with the admin key in the environment.
    const lockerFile = join(dir, 'locker.json');
    const bundle = join(dir, 'bundle');
    writeFileSync(lockerFile, JSON.stringify(lockerJson(LOCKER, simulatedHardware({ autoCloseAfterMs: 1_000, keypadPath: keypad.device, scannerPath: scanner.device }), { logLevel: 'info' })));
    const provisioned = await runProvisionCli(
      ['--backend', backend.url, '--locker', lockerFile, '--broker', broker.url, '--out', bundle, '--mosquitto-passwd', passwd, '--etc-dir', bundle, '--data-dir', join(dir, 'data')],
      { LOCKER_API_KEY: backend.apiKey },
    );
    expect(provisioned.stderr).toBe('');
    expect(provisioned.code).toBe(0);
    expect(provisioned.stdout).toContain(`broker user ${LOCKER} added to ${passwd}`);
    const config = JSON.parse(readFileSync(join(bundle, 'device.json'), 'utf8')) as { sync: { mqtt: { username: string; password: string } } };
    const credentials = { username: config.sync.mqtt.username, password: config.sync.mqtt.password };
    say('provisioned: locker registered, bundle written, broker user added');

    // Reload the broker (SIGHUP) and wait until it admits the new user.
    broker.reload();
    await waitForAsync(async () => {
      const probe = await connectAsync(broker.url, { ...credentials, clientId: LOCKER, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2_000 }).catch(() => undefined);
      await probe?.endAsync(true);
      return probe !== undefined;
    }, 'the broker to admit the provisioned locker after SIGHUP', 10_000);

    // The compiled device, from the bundle, as its own process. Its data dir exists, as
    // device/deploy/install.sh makes /var/lib/locker on the board.
    mkdirSync(join(dir, 'data'), { mode: 0o700 });
    // Built into this test's own directory (device/dist is another test's to rebuild), with
    // the repository's packages in reach as the board's install puts them beside it.
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const main = (await buildProgram('device', { outdir: join(dir, 'app') })).entries['main'];
    if (main === undefined) throw new Error('the device build has no main entry');
    const device = spawn(process.execPath, [main, join(bundle, 'device.json')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => stopChild(device));
    const logs: LogLine[] = [];
    let stderr = '';
    let partial = '';
    device.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          logs.push(JSON.parse(line) as LogLine);
        } catch {
          logs.push({ msg: line });
        }
      }
    });
    device.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const alive = (): boolean => {
      if (device.exitCode !== null) throw new Error(`the device exited ${String(device.exitCode)}: ${stderr}\n${logs.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`);
      return true;
    };
    const logged = (msg: string, compartmentId?: string) => (): boolean =>
      alive() && logs.some((l) => l.msg === msg && (compartmentId === undefined || l.compartmentId === compartmentId));
    await waitFor(async () => alive() && (await f.services.lockers.get(LOCKER)).online, 'the device online at the backend', 20_000);
    expect(logs.some((l) => l.msg === 'hal.bench-inputs')).toBe(true);
    say('compiled device online over Mosquitto with the generated credentials');

    // A shop's order to this locker: the backend issues the tokens and publishes the batch.
    const api = apiClient(backend);
    const hold = await api('POST', '/reservations', { orderRef: 'cart-e2e', lockerId: LOCKER, size: 'M' }, 'res-e2e-key');
    const order = await api('POST', '/orders', {
      orderRef: 'cart-e2e', customer: { name: 'Ada', email: 'ada@example.com' }, currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 2_000, size: 'M' }], reservationIds: [str(hold['id'])],
    }, 'ord-e2e-key');
    const orderId = str(order['id']);
    await api('POST', `/orders/${orderId}/payment-confirmation`);
    await api('POST', `/orders/${orderId}/processing`);
    const shipment = await api('POST', `/orders/${orderId}/shipments`, { lineIds: ['l1'], carrier: 'dhl', trackingNumber: 'TRK-E2E', delivery: { reservationId: str(hold['id']) } });
    const shipmentId = str(shipment['id']);
    const compartmentId = str(shipment['compartmentId']);
    const credential = await api('POST', `/lockers/${LOCKER}/courier-credentials`, { courierId: 'courier-e2e' });
    await waitFor(async () => {
      alive();
      const set = await f.store.codeSets.get(LOCKER);
      return set !== undefined && set.version > 0 && set.ackedVersion === set.version;
    }, 'the device to apply and acknowledge its first code batch', 15_000);
    say(`first code batch applied and acknowledged; parcel ${shipmentId} goes to ${compartmentId}`);

    // What the device uploaded, as the backend stored it.
    const audit = (type: string): Array<Record<string, unknown>> =>
      ((f.store.x as SqliteExecutor).db.prepare('SELECT data_json FROM audit_records WHERE locker_id = ? AND type = ? ORDER BY seq').all(LOCKER, type) as Array<{ data_json: string }>).map(
        (r) => JSON.parse(r.data_json) as Record<string, unknown>,
      );

    // The courier: credential and parcel barcode on the scanner; the door opens on the pulse
    // and closes by itself (autoCloseAfterMs), which confirms the deposit.
    scanner.write(`${str(credential['token'])}\r\n`);
    await waitFor(() => alive() && audit('courier.session-started').length === 1, 'the courier session (audit at the backend)', 10_000);
    scanner.write(`${shipmentId}\r\n`);
    await waitFor(logged('courier.deposited', compartmentId), `the deposit into ${compartmentId}`, 10_000);
    keypad.write('C');
    await waitFor(() => alive() && audit('courier.session-ended').length === 1, 'the courier session to end', 10_000);
    await waitFor(async () => alive() && (await f.services.shipments.get(shipmentId)).state === 'delivered', 'the shipment delivered at the backend', 10_000);

    // The customer: the code the backend sent, typed on the keypad.
    await waitFor(() => f.inbox.sent.some((n) => n.kind === 'parcel.ready_for_pickup' && n.payload['shipmentId'] === shipmentId), 'the pickup notification', 10_000);
    const code = str(f.inbox.sent.find((n) => n.kind === 'parcel.ready_for_pickup' && n.payload['shipmentId'] === shipmentId)?.payload['code']);
    const pulsesBefore = logs.filter((l) => l.msg === 'relay.pulse').length;
    keypad.write(`${code}#`);
    await waitFor(logged('pickup.door-opened', compartmentId), `door ${compartmentId} to open for the pickup`, 10_000);
    const pickupPulses = logs.filter((l) => l.msg === 'relay.pulse').slice(pulsesBefore);
    expect(pickupPulses.map((l) => l.compartmentId)).toEqual([compartmentId]);
    await waitFor(() => alive() && audit('pickup.collected').length === 1, 'pickup.collected at the backend', 10_000);
    expect(audit('pickup.collected')[0]).toMatchObject({ compartmentId, parcelId: shipmentId, via: 'code' });
    await waitFor(async () => (await f.services.orders.get(orderId)).state === 'collected', 'the order collected', 10_000);
    expect(await f.store.audit.chainBrokenAt(LOCKER)).toBeUndefined();
    // Neither the code nor the courier's token reaches the device log.
    const deviceLog = logs.map((l) => JSON.stringify(l)).join('\n');
    expect(deviceLog).not.toContain(code);
    expect(deviceLog).not.toContain(str(credential['token']));
    say(`code typed on the keypad PTY opened ${compartmentId}; pickup.collected stored at the backend, order collected`);

    // The device stops cleanly on SIGTERM (its session is then free for the ACL checks,
    // which log in with its own credentials and therefore its client id).
    await stopChild(device, 'SIGTERM');
    expect(device.exitCode).toBe(0);
    await transport.stop();
    transport = undefined;

    const observer = await connectAsync(broker.url, { username: 'backend', password: BACKEND_PASSWORD, clientId: 'observer', protocolVersion: 5, reconnectPeriod: 0 });
    cleanups.push(() => observer.endAsync(true));
    const locker: MqttClient = await connectAsync(broker.url, { ...credentials, clientId: LOCKER, protocolVersion: 5, reconnectPeriod: 0 });
    cleanups.push(() => locker.endAsync(true));
    const seenByObserver: string[] = [];
    const seenByLocker: string[] = [];
    observer.on('message', (topic, payload) => seenByObserver.push(`${topic} ${payload.toString()}`));
    locker.on('message', (topic, payload) => seenByLocker.push(`${topic} ${payload.toString()}`));
    await observer.subscribeAsync('lockers/#', { qos: 1 });
    const granted = await locker.subscribeAsync([topicFor(OTHER, 'codes/batch'), topicFor(OTHER, 'cmd'), 'lockers/#', topicFor(LOCKER, 'cmd')], { qos: 1 });

    // Reading: what the backend sends another locker never reaches these credentials. The
    // message to the locker itself goes last, so once it has arrived anything leaked would have too.
    await observer.publishAsync(topicFor(OTHER, 'codes/batch'), 'for-other', { qos: 1 });
    await observer.publishAsync(topicFor(OTHER, 'cmd'), 'for-other', { qos: 1 });
    await observer.publishAsync(topicFor(LOCKER, 'cmd'), 'for-me', { qos: 1 });
    await waitFor(() => seenByLocker.some((m) => m.endsWith('for-me')), 'the locker to receive its own command', 5_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(seenByLocker.filter((m) => m.includes(OTHER))).toEqual([]);

    // Writing: uploads and presence in the other locker's name are dropped by the broker.
    for (const t of [topicFor(OTHER, 'audit/upload'), topicFor(OTHER, 'presence'), topicFor(OTHER, 'codes/ack'), topicFor(OTHER, 'cmd')]) {
      await locker.publishAsync(t, 'forged', { qos: 1 }).catch(() => undefined);
    }
    await locker.publishAsync(topicFor(LOCKER, 'health'), 'legit', { qos: 1 });
    await waitFor(() => seenByObserver.some((m) => m === `${topicFor(LOCKER, 'health')} legit`), 'the locker\'s own health message', 5_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(seenByObserver.filter((m) => m.endsWith('forged'))).toEqual([]);
    say(`ACL: subscriptions granted ${JSON.stringify(granted.map((g) => [g.topic, g.qos]))}; nothing of ${OTHER} read or written`);
  }, 120_000);
});

type Json = Record<string, unknown>;

function str(value: unknown): string {
  if (typeof value !== 'string') throw new Error(`expected a string, got ${JSON.stringify(value)}`);
  return value;
}

/** The backend's HTTP API with the operator's key, as a shop and a courier company call it. */
function apiClient(backend: HttpBackend) {
  return async (method: 'GET' | 'POST', path: string, body?: object, idempotencyKey?: string): Promise<Json> => {
    const headers: Record<string, string> = { authorization: `Bearer ${backend.apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    const res = await fetch(`${backend.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${String(res.status)} ${text.slice(0, 300)}`);
    return JSON.parse(text) as Json;
  };
}

async function waitForAsync(predicate: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
