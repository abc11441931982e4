import { randomBytes } from 'node:crypto';
import type { RandomSource } from './types.js';

/** The production source: the OS CSPRNG. */
export function cryptoRandom(): RandomSource {
  return { bytes: (length: number) => new Uint8Array(randomBytes(length)) };
}

/**
 * Deterministic bytes for tests and reproducible simulator runs (mulberry32). Never use it
 * for anything secret: it is predictable by design.
 */
export class SeededRandom implements RandomSource {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
}
