// The workload both implementations run, so they differ only in how they talk to the
// database: 2,000 lockers × 20 compartments, and a hold schedule that visits lockers round
// robin and asks each for its compartment sizes in the order it has them. Every hold then
// finds a free compartment (no NO_CAPACITY path, no lazy release) until all 40,000 are
// taken, and concurrent holds land on different lockers, as checkouts spread over a city do.

export type Size = 'S' | 'M' | 'L' | 'XL';

export const LOCKERS = 2_000;
/** Sizes of a locker's compartments C01…C20, in id order (the claim picks the lowest free id). */
export const SLOTS: readonly Size[] = [...rep('S', 6), ...rep('M', 6), ...rep('L', 5), ...rep('XL', 3)];
export const CAPACITY = LOCKERS * SLOTS.length;
export const SCOPE = 'reservation';

function rep(size: Size, n: number): Size[] {
  return Array.from({ length: n }, () => size);
}

export const lockerId = (n: number): string => `bl-${String(n).padStart(4, '0')}`;
export const compartmentId = (slot: number): string => `C${String(slot + 1).padStart(2, '0')}`;

/** What one checkout hold needs; the same values go to both implementations. */
export interface HoldInput {
  id: string;
  key: string;
  orderRef: string;
  lockerId: string;
  size: Size;
  now: number;
  expiresAt: number;
  offlineCutoff: number;
}

export function holdInput(run: string, i: number, now: number): HoldInput {
  const slot = SLOTS[Math.floor(i / LOCKERS) % SLOTS.length] as Size;
  return {
    id: `res-${run}-${String(i)}`,
    key: `key-${run}-${String(i)}`,
    orderRef: `ord-${String(i)}`,
    lockerId: lockerId(i % LOCKERS),
    size: slot,
    now,
    expiresAt: now + 15 * 60_000,
    offlineCutoff: now - 10 * 60_000,
  };
}

/** The response a hold stores with its idempotency record (as the checkout route does). */
export function holdResponse(u: HoldInput, compartment: string): string {
  return JSON.stringify({ id: u.id, orderRef: u.orderRef, lockerId: u.lockerId, size: u.size, compartmentId: compartment, status: 'held', expiresAt: u.expiresAt });
}

export class NoCapacityError extends Error {
  override readonly name = 'NoCapacityError';
  readonly code = 'NO_CAPACITY';
  constructor(u: HoldInput) {
    super(`bench schedule found no free ${u.size} compartment at ${u.lockerId}`);
  }
}
