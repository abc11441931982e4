import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../shared/logger.js';

// The backend's MQTT connection. mqtt.js reconnects by itself; the session is persistent
// (clean: false, stable client id) so the broker keeps our subscriptions and queues QoS 1
// uploads from lockers while we restart. Nagle is turned off on connect (FACTS.md: else
// every request/response round trip costs ~88 ms).
//
// A QoS 1 publish is settled by the broker's PUBACK, and mqtt.js waits for it however long
// the broker is away: offline it queues the message until the next connection, and a
// graceful end() waits for every unacknowledged one after it stopped reconnecting. So no
// caller waits on the broker unbounded: publish() rejects (MqttUnconfirmedError) at once
// while offline and after publishTimeoutMs when no PUBACK came; the message stays queued in
// mqtt.js and goes out on reconnect (every downlink is idempotent: commands by transaction
// id, batches by version, acks by seq). Without this a broker outage held the sweeper's
// pass (one due command's publish, and every task after it: holds, outbox, refunds) and
// POST commands for as long as it lasted, and SIGTERM never finished: the supervisor
// killed the process. stop() likewise waits for PUBACKs at most stopGraceMs, then closes.

export interface MqttTransportOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  protocolVersion?: 4 | 5;
  /** MQTT 5 session expiry after a disconnect (default 7 days: the broker queues our uplinks while we restart). */
  sessionExpirySeconds?: number;
  subscriptions: readonly string[];
  logger: Logger;
  /** Handles one message; a rejection is logged (the handler should not reject). */
  onMessage: (topic: string, payload: Buffer) => Promise<void>;
  /** A connected publish not acknowledged by the broker within this long rejects (default 10 s). */
  publishTimeoutMs?: number;
  /** stop() waits this long for unacknowledged publishes while connected, then closes anyway (default 5 s). */
  stopGraceMs?: number;
}

/** The broker has not acknowledged a publish (offline, no PUBACK in time, stopped): it may still go out on reconnect, but nobody can count on it. */
export class MqttUnconfirmedError extends Error {
  override readonly name = 'MqttUnconfirmedError';
  readonly code = 'MQTT_UNCONFIRMED';
  constructor(
    readonly reason: 'offline' | 'timeout' | 'stopped',
    readonly topic: string,
  ) {
    super(`publish not acknowledged by the broker (${reason}): ${topic}`);
  }
}

export class MqttTransport {
  private client: MqttClient | undefined;
  private readonly log: Logger;
  /** Subscriptions held back (pause): not taken on connect, dropped at the broker. */
  private readonly paused = new Set<string>();
  /** Publishes waiting for their PUBACK: stop() fails them rather than leave their callers waiting. */
  private readonly waiting = new Set<() => void>();

  constructor(private readonly o: MqttTransportOptions) {
    this.log = o.logger.child({ component: 'mqtt' });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Resolves on the first successful connection and subscription. */
  async start(): Promise<void> {
    const options: IClientOptions = {
      clientId: this.o.clientId,
      clean: false,
      protocolVersion: this.o.protocolVersion ?? 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 30,
      // The connect handler subscribes what is not paused; mqtt.js's own resubscription
      // would also retake a subscription paused while we were offline.
      resubscribe: false,
    };
    if (this.o.username !== undefined) options.username = this.o.username;
    if (this.o.password !== undefined) options.password = this.o.password;
    if (options.protocolVersion === 5) options.properties = { sessionExpiryInterval: this.o.sessionExpirySeconds ?? 7 * 24 * 3600 };
    const client = connect(this.o.url, options);
    this.client = client;
    client.on('message', (topic, payload) => {
      this.o.onMessage(topic, payload).catch((err: unknown) => this.log.error({ topic, err: err instanceof Error ? err.message : String(err) }, 'mqtt.handler_failed'));
    });
    client.on('error', (err) => this.log.warn({ err: err.message }, 'mqtt.error'));
    client.on('offline', () => this.log.warn({}, 'mqtt.offline'));
    await new Promise<void>((resolve, reject) => {
      let first = true;
      client.on('connect', () => {
        const stream = client.stream as { setNoDelay?: (on: boolean) => void };
        stream.setNoDelay?.(true);
        this.log.info({ url: this.o.url }, 'mqtt.connected');
        const active = this.o.subscriptions.filter((f) => !this.paused.has(f));
        // The broker keeps a persistent session's subscriptions: one paused while we were
        // offline is still there and must be dropped.
        if (this.paused.size > 0) client.unsubscribe([...this.paused], (err) => err && this.log.warn({ err: err.message }, 'mqtt.unsubscribe_failed'));
        client.subscribe(active, { qos: 1 }, (err) => {
          if (err) {
            this.log.error({ err: err.message }, 'mqtt.subscribe_failed');
            if (first) reject(err);
          } else if (first) resolve();
          first = false;
        });
      });
    });
  }

  /**
   * Stops taking messages on these subscriptions until resume: with a shared subscription
   * the broker hands them to the other members of the group instead. The wanted state is
   * recorded first and every reconnect applies it; the broker is asked for every filter
   * each time, so a call that failed can simply be made again.
   */
  async pause(filters: readonly string[]): Promise<void> {
    for (const f of filters) this.paused.add(f);
    if (filters.length > 0 && this.client?.connected === true) await this.client.unsubscribeAsync([...filters]);
  }

  /** Takes the paused subscriptions again (same rules as pause). */
  async resume(filters: readonly string[]): Promise<void> {
    for (const f of filters) this.paused.delete(f);
    if (filters.length > 0 && this.client?.connected === true) await this.client.subscribeAsync([...filters], { qos: 1 });
  }

  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void> {
    const client = this.client;
    if (client === undefined) return Promise.reject(new Error('mqtt transport not started'));
    const connected = client.connected;
    return new Promise<void>((resolve, reject) => {
      const settle = (err: Error | undefined): void => {
        clearTimeout(timer);
        this.waiting.delete(fail);
        if (err === undefined) resolve();
        else reject(err);
      };
      const fail = (): void => settle(new MqttUnconfirmedError('stopped', topic));
      const timer = setTimeout(() => settle(new MqttUnconfirmedError('timeout', topic)), this.o.publishTimeoutMs ?? 10_000);
      this.waiting.add(fail);
      client.publish(topic, payload, opts, (err) => settle(err ?? undefined));
      // Queued by mqtt.js for the next connection (QoS 0 too: queueQoSZero defaults to true;
      // every downlink is QoS 1 anyway): not waited for.
      if (!connected) settle(new MqttUnconfirmedError('offline', topic));
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    // mqtt.js's own graceful end() counts pending acks in this (public, typed) map too.
    const unacked = (): number => Object.keys(client.outgoing).length;
    if (client.connected && unacked() > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          client.removeListener('packetreceive', onPacket);
          client.removeListener('close', done);
          resolve();
        };
        // Not 'outgoingEmpty': mqtt.js emits it only once end() has begun, so before end() it
        // never came and every stop with a publish in flight waited the whole grace. Each
        // PUBACK is handled right after 'packetreceive' fires: look on the next turn.
        const onPacket = (): void => {
          setImmediate(() => {
            if (unacked() === 0) done();
          });
        };
        const timer = setTimeout(done, this.o.stopGraceMs ?? 5_000);
        client.on('packetreceive', onPacket);
        client.on('close', done);
      });
    }
    for (const fail of [...this.waiting]) fail();
    if (client.connected && unacked() === 0) {
      await client.endAsync();
      return;
    }
    // mqtt.js's graceful end would wait for PUBACKs that cannot come (it stops reconnecting first).
    this.log.warn({ unacked: unacked(), connected: client.connected }, 'mqtt.stop_forced');
    await client.endAsync(true);
  }
}
