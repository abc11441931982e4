import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicFor } from '@locker/contract/topics.js';
import { hasMosquitto, MosquittoHarness } from '@locker/sync-testing/mosquitto-harness.js';

// The shipped ACL (locker.acl) against a real private Mosquitto with per-locker passwords:
// locker A can neither read nor write locker B's topics, cannot forge its own inbound
// messages, cannot take over B's session, and anonymous clients are refused.

const skip = !hasMosquitto && !process.env['CI'];
if (skip) console.warn('acl.mosquitto.test.ts skipped: mosquitto binary not found (apt-get install mosquitto)');

const users = { 'locker-a': 'pw-a-1234', 'locker-b': 'pw-b-5678', backend: 'pw-backend-9' } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('Mosquitto ACL for lockers', () => {
  let broker: MosquittoHarness;
  let passwdDir = '';
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    passwdDir = mkdtempSync(join(tmpdir(), 'sync-acl-'));
    const passwd = join(passwdDir, 'passwd');
    // make-passwd.sh is the production path; it reads "user password" lines.
    execFileSync(join(import.meta.dirname, 'make-passwd.sh'), [passwd], {
      input: Object.entries(users).map(([u, p]) => `${u} ${p}`).join('\n') + '\n',
    });
    broker = await MosquittoHarness.start({
      allowAnonymous: false,
      extraConfig: [`password_file ${passwd}`, `acl_file ${join(import.meta.dirname, 'locker.acl')}`, 'use_username_as_clientid true'],
    });
  });
  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await broker.close();
    rmSync(passwdDir, { recursive: true, force: true });
  });

  async function login(user: keyof typeof users, clientId: string = user): Promise<{ client: MqttClient; got: string[] }> {
    const client = await connectAsync(broker.url, { username: user, password: users[user], clientId, protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(client);
    const got: string[] = [];
    client.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    return { client, got };
  }

  it('confines locker A to its own subtree in both directions', async () => {
    const backend = await login('backend');
    const a = await login('locker-a');
    const b = await login('locker-b');
    await backend.client.subscribeAsync('lockers/#', { qos: 1 });
    await a.client.subscribeAsync(['lockers/#', topicFor('locker-b', 'cmd'), topicFor('locker-a', 'cmd')], { qos: 1 });
    await b.client.subscribeAsync(topicFor('locker-b', 'cmd'), { qos: 1 });

    // Backend → B and backend → A: only the addressee receives it.
    await backend.client.publishAsync(topicFor('locker-b', 'cmd'), 'for-b', { qos: 1 });
    await backend.client.publishAsync(topicFor('locker-a', 'cmd'), 'for-a', { qos: 1 });
    // A writes into B's subtree and forges its own inbound topic; then a legitimate upload.
    for (const t of [topicFor('locker-b', 'audit/upload'), topicFor('locker-b', 'presence'), topicFor('locker-b', 'cmd'), topicFor('locker-a', 'cmd'), topicFor('locker-a', 'audit/ack')]) {
      await a.client.publishAsync(t, 'forged', { qos: 1 }).catch(() => undefined);
    }
    await a.client.publishAsync(topicFor('locker-a', 'audit/upload'), 'legit', { qos: 1 });
    await sleep(300);

    // (A's two overlapping subscriptions may deliver its own message twice.)
    expect([...new Set(a.got)]).toEqual([`${topicFor('locker-a', 'cmd')} for-a`]);
    expect(b.got).toEqual([`${topicFor('locker-b', 'cmd')} for-b`]);
    expect(backend.got.filter((m) => m.endsWith('forged'))).toEqual([]);
    expect(backend.got).toContain(`${topicFor('locker-a', 'audit/upload')} legit`);
  });

  it('does not let locker A take over locker B\'s session with B\'s client id', async () => {
    const b = await login('locker-b');
    let bClosed = false;
    b.client.on('close', () => {
      bClosed = true;
    });
    await login('locker-a', 'locker-b');
    await sleep(300);
    expect(bClosed).toBe(false);
    expect(b.client.connected).toBe(true);
  });

  it('refuses anonymous clients and wrong passwords', async () => {
    await expect(connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
    await expect(connectAsync(broker.url, { username: 'locker-a', password: 'wrong', protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
  });
});
