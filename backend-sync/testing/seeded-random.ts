// Reproducible randomness for property tests (mulberry32): fast-check hands a test one
// integer seed, and everything the test shuffles or picks follows from it, so a shrunk
// counterexample replays exactly. Predictable by design: never for anything secret.

/** Floats in [0, 1) from `seed`. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
