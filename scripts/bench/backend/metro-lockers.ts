import { lockerInput } from '@locker/backend/testing/backend-fixture.js';
import type { LockerInput } from '@locker/backend/lockers/locker-schemas.js';
import type { SearchQuery } from '@locker/backend/lockers/locker-schemas.js';

// The backend benches' locker estate, the same on both engines so their search figures
// compare: 10,000 lockers of 20 compartments (200,000) spread over a Berlin-sized metro
// area (~44 × 54 km: ~4 lockers per km², ~50 inside a 2 km circle), positions and queries
// drawn from one seeded generator so every run searches the same city the same way.

export const LOCKERS = 10_000;
export const SIZES = { S: 6, M: 6, L: 5, XL: 3 } as const;
const box = { lat: [52.3, 52.7], lng: [13.0, 13.8] } as const;
const sizes = ['S', 'M', 'L', 'XL'] as const;

export class MetroArea {
  private seed = 42;

  /** A linear congruential generator: the same sequence on every run and engine. */
  rand(): number {
    return (this.seed = (this.seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  }

  private between(r: readonly [number, number]): number {
    return r[0] + this.rand() * (r[1] - r[0]);
  }

  /** Locker i of the estate (ids bench-0 … bench-9999, as the HTTP load client picks them). */
  locker(i: number): LockerInput {
    return lockerInput(`bench-${String(i)}`, this.between(box.lat), this.between(box.lng), SIZES);
  }

  /** A nearby search as a customer page sends it: 2 km, a random size, 20 hits. */
  query(): Required<Omit<SearchQuery, 'size'>> & Pick<SearchQuery, 'size'> {
    return { lat: this.between(box.lat), lng: this.between(box.lng), radiusM: 2000, size: sizes[Math.floor(this.rand() * 4)], limit: 20 };
  }
}

/** p99 and p50 (ms) of `search` over 2,000 queries after 200 unmeasured ones. */
export async function searchLatency(metro: MetroArea, search: (q: SearchQuery) => Promise<unknown>): Promise<{ p99: number; p50: number }> {
  for (let i = 0; i < 200; i++) await search(metro.query());
  const times: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const q = metro.query();
    const t = performance.now();
    await search(q);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const at = (p: number): number => Number((times[Math.floor(times.length * p)] ?? 0).toFixed(2));
  return { p99: at(0.99), p50: at(0.5) };
}
