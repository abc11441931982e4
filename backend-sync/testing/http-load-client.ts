import { Agent, request } from 'node:http';

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
const headers: Record<string, string> = { 'content-type': 'application/json', ...(apiKey === undefined || apiKey === '' ? {} : { authorization: `Bearer ${apiKey}` }) };
const counts = { ok: 0, full: 0, other: 0, ms: 0, cpuUs: 0, statuses: {} as Record<string, number> };

// node:http with one keep-alive socket per client rather than fetch: undici's fetch costs
// the load process several times the CPU per request (web streams, abort signals), and on
// a 2-core machine every µs the load takes is a µs the servers under test do not get.
const agent = new Agent({ keepAlive: true, maxSockets: clients });

function post(base: URL, path: string, body: string, idempotencyKey: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: base.hostname, port: base.port, path, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body), 'idempotency-key': idempotencyKey } },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function client(c: number): Promise<void> {
  const base = bases[c % bases.length]!;
  for (let i = 0; i < perClient; i++) {
    const body = JSON.stringify({ orderRef: `cart-${tag}-${String(c)}-${String(i)}`, lockerId: `bench-${String(Math.floor(Math.random() * lockers))}`, size: 'M' });
    const status = await post(base, '/reservations', body, `${tag}-${String(c)}-${String(i)}`);
    if (status === 201) counts.ok++;
    else if (status === 409) counts.full++;
    else {
      counts.other++;
      counts.statuses[String(status)] = (counts.statuses[String(status)] ?? 0) + 1;
    }
  }
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
counts.ms = Math.round(performance.now() - t0);
const cpu = process.cpuUsage(cpu0);
counts.cpuUs = cpu.user + cpu.system;
process.stdout.write(`${JSON.stringify(counts)}\n`);
