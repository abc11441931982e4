import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import type { BrokerHarness } from './broker-harness.js';
import { freePort } from './free-port.js';

// The embedded broker for tests and benchmarks: aedes in-process on a free loopback port,
// with Nagle off on the broker side (FACTS.md: otherwise every round trip costs ~88 ms).
// kill() drops every connection and the broker's in-memory state, like a broker process
// dying without persistence; restart() comes back on the same port.

export class AedesHarness implements BrokerHarness {
  readonly name = 'aedes';
  readonly protocolVersion = 4;
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly port: number,
    private readonly options: AedesOptions,
  ) {}

  static async start(options: AedesOptions = {}, port?: number): Promise<AedesHarness> {
    const harness = new AedesHarness(port ?? (await freePort()), options);
    await harness.listen();
    return harness;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${String(this.port)}`;
  }

  /** The running broker (for tests that hook its events). */
  get instance(): Aedes | undefined {
    return this.broker;
  }

  private async listen(): Promise<void> {
    const broker = await Aedes.createBroker(this.options);
    const server = createServer({ noDelay: true }, (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.broker = broker;
    this.server = server;
  }

  async kill(): Promise<void> {
    const { broker, server } = this;
    this.broker = undefined;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (broker !== undefined) await new Promise<void>((resolve) => broker.close(() => resolve()));
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.listen();
  }

  async close(): Promise<void> {
    await this.kill();
  }
}
