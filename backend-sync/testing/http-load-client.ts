// Load generator for the reservation benchmark, run as its own process so the HTTP client
// does not compete with the server for the event loop:
//   node --import tsx http-load-client.ts <baseUrl> <clients> <perClient> <lockers> <tag>
// Each client sends POST /reservations back to back (keep-alive), random locker, size M.
// Prints one JSON line: { ok, full, other, ms }.
const [base, clientsText, perClientText, lockersText, tag] = process.argv.slice(2);
if (base === undefined || clientsText === undefined || perClientText === undefined || lockersText === undefined || tag === undefined) {
  throw new Error('usage: http-load-client <baseUrl> <clients> <perClient> <lockers> <tag>');
}
const clients = Number(clientsText);
const perClient = Number(perClientText);
const lockers = Number(lockersText);
const counts = { ok: 0, full: 0, other: 0, ms: 0 };

async function client(c: number): Promise<void> {
  for (let i = 0; i < perClient; i++) {
    const res = await fetch(`${base}/reservations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `${tag}-${String(c)}-${String(i)}` },
      body: JSON.stringify({ orderRef: `cart-${tag}-${String(c)}-${String(i)}`, lockerId: `bench-${String(Math.floor(Math.random() * lockers))}`, size: 'M' }),
    });
    await res.arrayBuffer();
    if (res.status === 201) counts.ok++;
    else if (res.status === 409) counts.full++;
    else counts.other++;
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
counts.ms = Math.round(performance.now() - t0);
process.stdout.write(`${JSON.stringify(counts)}\n`);
