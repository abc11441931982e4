import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import { MqttSession } from './mqtt-session.js';

// The session against a broker that misbehaves on the wire. A real broker (mosquitto) never
// sends this; a broken one or a proxy in between can, and the locker must not die of it.
// MQTT 3.1.1 packets written by hand: the point is bytes no well-behaved library would produce.

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Splits a client's byte stream into MQTT packets (type nibble and body). */
function packetReader(onPacket: (type: number, body: Buffer) => void): (chunk: Buffer) => void {
  let buffered = Buffer.alloc(0);
  return (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let i = 1;
      for (; i < buffered.length; i++) {
        const byte = buffered[i] ?? 0;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) break;
      }
      if (i >= buffered.length || buffered.length < i + 1 + length) return;
      onPacket((buffered[0] ?? 0) >> 4, buffered.subarray(i + 1, i + 1 + length));
      buffered = buffered.subarray(i + 1 + length);
    }
  };
}

/**
 * Accepts CONNECT and SUBSCRIBE; on the first connection, right after the SUBACK, sends a
 * QoS 1 PUBLISH whose remaining length ends before its message id.
 */
async function brokerSendingTruncatedPublish(topic: string): Promise<{ server: Server; url: string; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    const first = connections === 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on(
      'data',
      packetReader((type, body) => {
        if (type === 1) socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); // CONNACK, accepted
        if (type === 12) socket.write(Buffer.from([0xd0, 0x00])); // PINGRESP
        if (type === 8) {
          const topics = Math.max(1, body.length > 2 ? countSubscriptions(body.subarray(2)) : 1);
          socket.write(Buffer.concat([Buffer.from([0x90, 2 + topics]), body.subarray(0, 2), Buffer.alloc(topics, 0x01)])); // SUBACK, QoS 1
          if (first) {
            const name = Buffer.from(topic);
            // PUBLISH QoS 1: topic, then one byte where the two-byte message id should be.
            socket.write(Buffer.concat([Buffer.from([0x32, 2 + name.length + 1, name.length >> 8, name.length & 0xff]), name, Buffer.from([0x00])]));
          }
        }
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, url: `mqtt://127.0.0.1:${String((server.address() as AddressInfo).port)}`, connections: () => connections };
}

function countSubscriptions(payload: Buffer): number {
  let n = 0;
  let pos = 0;
  while (pos + 2 <= payload.length) {
    pos += 2 + payload.readUInt16BE(pos) + 1;
    n++;
  }
  return n;
}

describe('MqttSession against a broker sending malformed packets', () => {
  it('survives a PUBLISH whose message id is cut short: logs mqtt.ack-failed, drops that connection and reconnects', async () => {
    const topic = 'lockers/L1/cmd';
    const broker = await brokerSendingTruncatedPublish(topic);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => process.off('unhandledRejection', onUnhandled));
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const received: string[] = [];
    let connects = 0;
    const session = new MqttSession({
      url: broker.url,
      clientId: 'L1',
      protocolVersion: 4,
      sessionExpirySeconds: 60,
      keepaliveSeconds: 30,
      connectTimeoutMs: 2000,
      maximumPacketSize: 1 << 20,
      backoff: { initialMs: 10, maxMs: 20, jitter: 0, promptMaxMs: 10, promptWindowMs: 1000 },
      clock: new SystemClock(),
      will: () => ({ topic: 'lockers/L1/presence', payload: Buffer.from('{}') }),
      subscriptions: [topic],
      logger,
      random: () => 0.5,
      onConnected: () => {
        connects++;
      },
      onDisconnected: () => undefined,
      onMessage: (t) => {
        received.push(t);
        return Promise.resolve();
      },
    });
    cleanups.push(() => session.stop());
    session.start();
    await until(() => connects >= 2, 'the session to reconnect after the malformed PUBLISH');
    expect(received).toEqual([topic]);
    expect(lines.find((l) => l['msg'] === 'mqtt.ack-failed')).toMatchObject({ level: 50, topic, messageId: -1, err: { type: 'TypeError' } });
    expect(broker.connections()).toBeGreaterThanOrEqual(2);
    // Let anything left over from the bad packet settle before looking.
    await new Promise((r) => setTimeout(r, 50));
    expect(unhandled).toEqual([]);
    expect(session.connected).toBe(true);
  });
});
