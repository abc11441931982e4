import { createConnection, createServer, type Server, type Socket } from 'node:net';

// A locker's network cable, between its sync agent and the MQTT broker: a TCP relay on a
// loopback port. `down()` cuts it at runtime as a pulled cable or a dead uplink would (every
// open connection reset, new ones refused until `up()`), so the agent really loses the
// broker, retries with its own backoff, and reconnects by itself afterwards. The broker sees
// the connection drop without a DISCONNECT, so it publishes the locker's last will.

export class NetworkLink {
  private readonly sockets = new Set<Socket>();
  private isUp = true;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Relays 127.0.0.1:<free port> to the broker at `target` (mqtt://host:port). */
  static async start(target: string): Promise<NetworkLink> {
    const parsed = new URL(target);
    const port = Number(parsed.port || (parsed.protocol === 'mqtts:' ? 8883 : 1883));
    const host = parsed.hostname;
    const holder: { link?: NetworkLink } = {};
    const server = createServer({ noDelay: true }, (client) => holder.link?.accept(client, host, port));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('network link: no port');
    holder.link = new NetworkLink(server, `${parsed.protocol}//127.0.0.1:${String(address.port)}`);
    return holder.link;
  }

  get up(): boolean {
    return this.isUp;
  }

  /** Cable pulled: every connection reset now, new ones refused. */
  down(): void {
    this.isUp = false;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
  }

  restore(): void {
    this.isUp = true;
  }

  /** Connections are reset without a goodbye (a power cut); the link stays as it is. */
  severAll(): void {
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    if (!this.isUp) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host, port, noDelay: true });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
