import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../shared/logger.js';

// The backend's MQTT connection. mqtt.js reconnects by itself; the session is persistent
// (clean: false, stable client id) so the broker keeps our subscriptions and queues QoS 1
// uploads from lockers while we restart. Nagle is turned off on connect (FACTS.md: else
// every request/response round trip costs ~88 ms).

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
}

export class MqttTransport {
  private client: MqttClient | undefined;
  private readonly log: Logger;
  /** Subscriptions held back (pause): not taken on connect, dropped at the broker. */
  private readonly paused = new Set<string>();

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
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, opts, (err) => (err ? reject(err) : resolve()));
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.endAsync();
  }
}
