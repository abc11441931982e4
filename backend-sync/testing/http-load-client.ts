// Load generator for the reservation benchmark, run as its own process so the HTTP client
// does not compete with the server for the event loop:
//   node --import tsx http-load-client.ts <baseUrl> <clients> <perClient> <lockers> <tag>
// Each client sends POST /reservations back to back (keep-alive), random locker, size M.
// Prints one JSON line: { ok, full, other, ms }.
import { Agent, request } from 'node:http';

const [base, clientsText, perClientText, lockersText, tag] = process.argv.slice(2);
if (base === undefined || clientsText === undefined || perClientText === undefined || lockersText === undefined || tag === undefined) {
  throw new Error('usage: http-load-client <baseUrl> <clients> <perClient> <lockers> <tag>');
}
const clients = Number(clientsText);
const perClient = Number(perClientText);
const lockers = Number(lockersText);
const counts = { ok: 0, full: 0, other: 0, ms: 0 };
// node:http with one keep-alive socket per client: fetch (undici) cost the client several
// times the CPU per request, and on a 2-core machine the client's CPU is the server's loss.
const url = new URL(`${base}/reservations`);
const agent = new Agent({ keepAlive: true, maxSockets: clients });

function post(body: string, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': key } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function client(c: number): Promise<void> {
  for (let i = 0; i < perClient; i++) {
    const body = JSON.stringify({ orderRef: `cart-${tag}-${String(c)}-${String(i)}`, lockerId: `bench-${String(Math.floor(Math.random() * lockers))}`, size: 'M' });
    const status = await post(body, `${tag}-${String(c)}-${String(i)}`);
    if (status === 201) counts.ok++;
    else if (status === 409) counts.full++;
    else counts.other++;
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
counts.ms = Math.round(performance.now() - t0);
process.stdout.write(`${JSON.stringify(counts)}\n`);
