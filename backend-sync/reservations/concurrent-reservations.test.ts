import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from '../store/sql/sql-text.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

// The double-booking guarantee under real concurrency: many HTTP requests in flight
// against a listening server, and several OS processes writing one SQLite file.

const here = dirname(fileURLToPath(import.meta.url));

const heldOnRace = sql("SELECT compartment_id FROM reservations WHERE locker_id = 'lk-race' AND status = 'held'");

async function distinctHeldCompartments(f: BackendFixture): Promise<{ held: number; distinct: number }> {
  const rows = await f.store.x.all<{ compartment_id: string }>(heldOnRace);
  return { held: rows.length, distinct: new Set(rows.map((r) => r.compartment_id)).size };
}

describe('concurrent reservations', () => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  it('lets exactly 10 of 1,000 concurrent HTTP reservation attempts succeed for 10 free compartments', async () => {
    f = await makeBackend({ config: { rateLimit: { windowMs: 1000, max: 1_000_000 } } });
    await f.services.lockers.register(lockerInput('lk-race', 48.1, 11.5, { M: 10, S: 5 }));
    const app = await f.app();
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const attempts = Array.from({ length: 1000 }, (_, i) =>
      fetch(`${address}/reservations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `race-key-${String(i)}` },
        body: JSON.stringify({ orderRef: `cart-${String(i)}`, lockerId: 'lk-race', size: 'M' }),
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as { compartmentId?: string } })),
    );
    const results = await Promise.all(attempts);
    const created = results.filter((r) => r.status === 201);
    expect(created).toHaveLength(10);
    expect(results.filter((r) => r.status === 409)).toHaveLength(990);
    expect(new Set(created.map((r) => r.body.compartmentId)).size).toBe(10);
    expect(await distinctHeldCompartments(f)).toEqual({ held: 10, distinct: 10 });
  });

  it('lets exactly 10 succeed when 4 processes race 1,000 attempts on one SQLite file', async () => {
    const fx = await makeBackend();
    f = fx;
    await fx.services.lockers.register(lockerInput('lk-race', 48.1, 11.5, { M: 10 }));
    const worker = join(here, '..', 'testing', 'reserve-worker.ts');
    const run = (tag: string): Promise<{ ok: number; noCapacity: number; other: number }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', worker, fx.config.db.path, '250', tag], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { ok: number; noCapacity: number; other: number }) : reject(new Error(`worker exit ${String(code)}`))));
      });
    const results = await Promise.all(['a', 'b', 'c', 'd'].map(run));
    expect(results.reduce((n, r) => n + r.ok, 0)).toBe(10);
    expect(results.reduce((n, r) => n + r.noCapacity, 0)).toBe(990);
    expect(results.reduce((n, r) => n + r.other, 0)).toBe(0);
    expect(await distinctHeldCompartments(fx)).toEqual({ held: 10, distinct: 10 });
  }, 60_000);
});
