// What every benchmark shares: the output format (`name: value unit`, one figure a line,
// the form `npm run bench` promises) and the two ways figures are taken here.

export function print(name: string, value: number, unit: string): void {
  process.stdout.write(`${name}: ${String(value)} ${unit}\n`);
}

/** The p-th percentile of samples (nearest rank), rounded to microseconds when in ms. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return Number((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0).toFixed(3));
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Calls `fn` for `seconds` after a 200 ms warm-up; returns calls per second. */
export function opsPerSecond(fn: () => unknown, seconds: number): number {
  const warmUntil = performance.now() + 200;
  while (performance.now() < warmUntil) fn();
  let ops = 0;
  const start = performance.now();
  let t = start;
  while (t < start + seconds * 1000) {
    for (let i = 0; i < 10; i++) fn();
    ops += 10;
    t = performance.now();
  }
  return Math.round(ops / ((t - start) / 1000));
}
