import { compartmentSizes, type CompartmentSize } from '@locker/contract/tokens/claims.js';
import type { CompartmentStatus } from '../store/runtime-store.js';

// Which compartment a courier's parcel goes into. The assigned one when it is usable
// (free, not excluded, not reserved for another parcel); otherwise the smallest free one of the same or a larger size (the smallest, so large
// compartments stay available for large parcels), lowest id first for determinism.

export interface CompartmentCandidate {
  id: string;
  size: CompartmentSize;
  status: CompartmentStatus;
}

export interface CompartmentChoice {
  preferredId?: string;
  /** The parcel needs at least this size. */
  minSize: CompartmentSize;
  /** "Doesn't fit": only sizes strictly larger than this one. */
  largerThan?: CompartmentSize;
  /** Compartments already tried in this session, or whose door is open. */
  exclude: ReadonlySet<string>;
  /**
   * Compartments still 'free' but promised to another parcel: a pending return drop-off,
   * another parcel's awaiting-deposit assignment. Filling one would let that other code
   * open a door on this parcel. Never chosen, not even when preferred.
   */
  reserved?: ReadonlySet<string>;
}

export function sizeRank(size: CompartmentSize): number {
  return compartmentSizes.indexOf(size);
}

export function chooseCompartment(candidates: readonly CompartmentCandidate[], choice: CompartmentChoice): string | undefined {
  const floor = Math.max(sizeRank(choice.minSize), choice.largerThan === undefined ? -1 : sizeRank(choice.largerThan) + 1);
  const usable = candidates.filter((c) => c.status === 'free' && !choice.exclude.has(c.id) && !(choice.reserved?.has(c.id) ?? false) && sizeRank(c.size) >= floor);
  const preferred = usable.find((c) => c.id === choice.preferredId);
  if (preferred !== undefined) return preferred.id;
  const sorted = [...usable].sort((a, b) => sizeRank(a.size) - sizeRank(b.size) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return sorted[0]?.id;
}
