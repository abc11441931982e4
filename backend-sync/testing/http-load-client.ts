import { connect, type Socket } from 'node:net';

// Load generator for the reservation benchmarks, run as its own process so the HTTP client
// does not compete with the server for the event loop:
//   node --import tsx http-load-client.ts <baseUrl>[,<baseUrl>…] <clients> <perClient> <lockers> <tag>
// Each client sends POST /reservations back to back (keep-alive), random locker, size M.
// With several base URLs (instances of one deployment) client c talks to URL c mod n, so
// the clients are split evenly over the instances. LOAD_API_KEY, when set, is sent as the
// bearer key (in the environment, not argv, so it does not show in a process listing).
// Prints one JSON line: { ok, full, other, ms, cpuUs, statuses } — cpuUs is this process's
// own CPU (user + system, µs), the load's cost on a machine it shares with the server;
// statuses counts every answer that was neither 201 nor 409 by code, so an error is
// visible, not just counted.
const [basesText, clientsText, perClientText, lockersText, tag] = process.argv.slice(2);
if (basesText === undefined || clientsText === undefined || perClientText === undefined || lockersText === undefined || tag === undefined) {
  throw new Error('usage: http-load-client <baseUrl>[,<baseUrl>…] <clients> <perClient> <lockers> <tag>');
}
const bases = basesText.split(',').filter((b) => b !== '').map((b) => new URL(b));
if (bases.length === 0) throw new Error('http-load-client: no base URL');
const clients = Number(clientsText);
const perClient = Number(perClientText);
const lockers = Number(lockersText);
const apiKey = process.env['LOAD_API_KEY'];
const counts = { ok: 0, full: 0, other: 0, ms: 0, cpuUs: 0, statuses: {} as Record<string, number> };

// One raw keep-alive TCP connection per client, requests written as bytes and answers read
// by a minimal HTTP/1.1 parser (status line, content-length, body skipped), like wrk or
// autocannon do: node:http costs the load process ~100–150 µs per request (agent, streams,
// header objects), and on a 2-core machine every µs the load takes is a µs the servers
// under test do not get. Only what this load needs: the server answers every request with
// a content-length body (fastify does), and one request is in flight per connection.
class Connection {
  private readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (status: number) => void; reject: (err: Error) => void } | undefined;

  constructor(base: URL) {
    this.socket = connect({ host: base.hostname, port: Number(base.port) });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.answer();
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  post(path: string, host: string, body: string, idempotencyKey: string): Promise<number> {
    const head = `POST ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\n${authLine}idempotency-key: ${idempotencyKey}\r\ncontent-length: ${String(Buffer.byteLength(body))}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(head + body);
    });
  }

  close(): void {
    this.socket.removeAllListeners('close');
    this.socket.end();
  }

  private answer(): void {
    const end = this.buffered.indexOf('\r\n\r\n');
    if (end < 0 || this.waiting === undefined) return;
    const head = this.buffered.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length === null) return this.fail(new Error(`answer without content-length: ${head.split('\r\n')[0] ?? ''}`));
    const total = end + 4 + Number(length[1]);
    if (this.buffered.length < total) return;
    this.buffered = this.buffered.subarray(total);
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve(status);
  }

  private fail(err: Error): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(err);
  }
}

const authLine = apiKey === undefined || apiKey === '' ? '' : `authorization: Bearer ${apiKey}\r\n`;

async function client(c: number): Promise<void> {
  const base = bases[c % bases.length]!;
  const connection = new Connection(base);
  for (let i = 0; i < perClient; i++) {
    const body = JSON.stringify({ orderRef: `cart-${tag}-${String(c)}-${String(i)}`, lockerId: `bench-${String(Math.floor(Math.random() * lockers))}`, size: 'M' });
    const status = await connection.post('/reservations', base.host, body, `${tag}-${String(c)}-${String(i)}`);
    if (status === 201) counts.ok++;
    else if (status === 409) counts.full++;
    else {
      counts.other++;
      counts.statuses[String(status)] = (counts.statuses[String(status)] ?? 0) + 1;
    }
  }
  connection.close();
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
counts.ms = Math.round(performance.now() - t0);
const cpu = process.cpuUsage(cpu0);
counts.cpuUs = cpu.user + cpu.system;
process.stdout.write(`${JSON.stringify(counts)}\n`);
