import type { Clock, TimerHandle } from '@locker/hal/types.js';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { reconnectDelay, type ReconnectPolicy } from './backoff.js';
import { SyncError } from './sync-error.js';

// One MQTT connection to the broker, kept alive forever. A fresh mqtt.js client per
// attempt (reconnectPeriod 0) so the reconnect schedule is ours: exponential backoff with
// jitter, unlimited attempts — capped low (promptMaxMs) for a while after a healthy
// connection was lost, so a locker is back within about a second of a broker restart
// instead of after a backoff that grew while the broker was down (backoff.ts). The broker keeps the persistent session (clean: false,
// client id = locker id), so subscriptions and queued QoS 1 messages survive between
// attempts; mqtt.js's in-memory store does not, and is not relied on for anything.
//
// Incoming messages go through mqtt.js handleMessage, which withholds the PUBACK until our
// handler finished: a message that was being processed when the process died is delivered
// again. It also serialises handlers. Consequence: a handler must never await the PUBACK
// of its own publish (it could only arrive after the handler returned): publish() here
// resolves on PUBACK but handlers fire and forget.

export interface MqttSessionOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** CA certificate(s) for mqtts:// (the broker's private CA in production). */
  ca?: string | Buffer;
  protocolVersion: 4 | 5;
  sessionExpirySeconds: number;
  keepaliveSeconds: number;
  connectTimeoutMs: number;
  maximumPacketSize: number;
  backoff: ReconnectPolicy;
  /**
   * The agent's clock: the reconnect timer, the bounded waits of stop() and the time since
   * a healthy connection was lost. mqtt.js keeps its own keepalive and connect-timeout
   * timers inside the client; those are the library's and stay on Node's timers.
   */
  clock: Pick<Clock, 'setTimeout' | 'clearTimeout' | 'monotonicMs'>;
  /** Built per attempt so it carries the current boot id. */
  will: () => { topic: string; payload: Buffer };
  subscriptions: readonly string[];
  logger: Logger;
  random: () => number;
  onConnected: (info: { sessionPresent: boolean }) => void;
  onDisconnected: () => void;
  onMessage: (topic: string, payload: Buffer) => Promise<void>;
}

export class MqttSession {
  private client: MqttClient | undefined;
  private attempt = 0;
  private timer: TimerHandle | undefined;
  private stopped = true;
  private connectedFlag = false;
  /** Monotonic time the last healthy (connected and subscribed) connection was lost. */
  private healthyLostAt: number | undefined;
  private healthy = false;
  private readonly log: Logger;

  constructor(private readonly options: MqttSessionOptions) {
    this.log = options.logger.child({ component: 'mqtt-session' });
  }

  get connected(): boolean {
    return this.connectedFlag;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  /** Publishes `final` (if connected) and disconnects cleanly; the will is not sent. */
  async stop(final?: { topic: string; payload: Buffer; retain: boolean }): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    this.connectedFlag = false;
    if (client === undefined) return;
    if (final !== undefined && client.connected) {
      await new Promise<void>((resolve) => {
        const t = this.options.clock.setTimeout(resolve, 1000);
        client.publish(final.topic, final.payload, { qos: 1, retain: final.retain }, () => {
          this.options.clock.clearTimeout(t);
          resolve();
        });
      });
    }
    await new Promise<void>((resolve) => {
      const t = this.options.clock.setTimeout(() => {
        client.end(true);
        resolve();
      }, 1000);
      client.end(false, {}, () => {
        this.options.clock.clearTimeout(t);
        resolve();
      });
    });
  }

  /**
   * QoS 1 publishes resolve on PUBACK, QoS 0 once written. Rejects with SyncError
   * NOT_CONNECTED when there is no connection: nothing is queued in memory, because every
   * message that matters is either in the device's SQLite outbox or re-requested by the peer.
   */
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void> {
    const client = this.client;
    if (client === undefined || !this.connectedFlag) return Promise.reject(new SyncError('NOT_CONNECTED', 'not connected', { topic }));
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, opts, (err) => {
        if (err) reject(new SyncError('PUBLISH_FAILED', 'publish failed', { topic }, { cause: err }));
        else resolve();
      });
    });
  }

  private open(): void {
    const o = this.options;
    const will = o.will();
    const clientOptions: IClientOptions = {
      clientId: o.clientId,
      clean: false,
      protocolVersion: o.protocolVersion,
      keepalive: o.keepaliveSeconds,
      connectTimeout: o.connectTimeoutMs,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: will.topic, payload: will.payload, qos: 1, retain: true },
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      ...(o.ca === undefined ? {} : { ca: o.ca, rejectUnauthorized: true }),
      ...(o.protocolVersion === 5
        ? { properties: { sessionExpiryInterval: o.sessionExpirySeconds, maximumPacketSize: o.maximumPacketSize } }
        : {}),
    };
    const client = connect(o.url, clientOptions);
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, callback: (error?: Error) => void): void => {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
      const ack = (): void => {
        try {
          callback();
        } catch (err) {
          // mqtt.js sends the PUBACK inside this call, and throws when it cannot encode it:
          // a malformed PUBLISH from the broker's side (mqtt-packet reads a message id cut
          // short as -1). Thrown here, in a promise callback, that would be an unhandled
          // rejection, which ends the device process. The connection's packet state is not
          // to be trusted after it: dropped, and the session reconnects ('close' below).
          this.log.error({ err, topic: packet.topic.slice(0, 200), messageId: packet.messageId }, 'mqtt.ack-failed');
          if (client === this.client) client.end(true);
        }
      };
      o.onMessage(packet.topic, payload).then(ack, (err: unknown) => {
        // Handlers have their own boundary; this is the last net. Ack anyway: a message
        // that crashes the handler would otherwise be redelivered forever.
        this.log.error({ err }, 'mqtt.handler-failed');
        ack();
      });
    };
    client.on('connect', (connack) => {
      if (client !== this.client) return;
      // FACTS.md: Nagle adds ~88 ms per round trip; mqtt.js has no option for it.
      const stream = client.stream as { setNoDelay?: (on: boolean) => void };
      stream.setNoDelay?.(true);
      this.attempt = 0;
      // Connected from here: a resumed session may deliver queued messages before our
      // SUBACK, and their handlers must be able to publish replies.
      this.connectedFlag = true;
      client.subscribe([...o.subscriptions], { qos: 1 }, (err) => {
        if (client !== this.client) return;
        if (err) {
          this.log.warn({ err }, 'mqtt.subscribe-failed');
          client.end(true);
          return;
        }
        this.healthy = true;
        this.log.info({ sessionPresent: connack.sessionPresent }, 'mqtt.connected');
        o.onConnected({ sessionPresent: connack.sessionPresent });
      });
    });
    client.on('error', (err) => {
      if (client === this.client) this.log.warn({ err: { message: err.message } }, 'mqtt.error');
    });
    client.on('close', () => {
      if (client !== this.client) return;
      const wasConnected = this.connectedFlag;
      this.connectedFlag = false;
      if (this.healthy) this.healthyLostAt = this.monotonic();
      this.healthy = false;
      this.client = undefined;
      client.removeAllListeners('connect');
      client.end(true);
      if (wasConnected) {
        this.log.info('mqtt.disconnected');
        o.onDisconnected();
      }
      this.scheduleReconnect();
    });
  }

  private monotonic(): number {
    return this.options.clock.monotonicMs();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const sinceLoss = this.healthyLostAt === undefined ? undefined : this.monotonic() - this.healthyLostAt;
    const delay = reconnectDelay(this.attempt, this.options.backoff, this.options.random(), sinceLoss);
    this.attempt++;
    this.log.debug({ delay, attempt: this.attempt }, 'mqtt.reconnect-scheduled');
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.open();
    }, delay);
  }
}
