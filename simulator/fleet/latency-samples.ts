// Latency samples of one kind (keypad → relay, API calls): kept whole so the percentiles
// are exact. A run of an hour at 1,000 ops/s is 3.6 M numbers, ~29 MB: acceptable for a
// test tool, and cheaper to reason about than a sketch.

export class LatencySamples {
  private readonly values: number[] = [];
  private sorted = true;

  add(ms: number): void {
    const last = this.values[this.values.length - 1];
    if (last !== undefined && ms < last) this.sorted = false;
    this.values.push(ms);
  }

  get count(): number {
    return this.values.length;
  }

  /** Nearest-rank percentile in ms (undefined before the first sample). */
  percentile(p: number): number | undefined {
    if (this.values.length === 0) return undefined;
    if (!this.sorted) {
      this.values.sort((a, b) => a - b);
      this.sorted = true;
    }
    const rank = Math.min(this.values.length - 1, Math.max(0, Math.ceil((p / 100) * this.values.length) - 1));
    return this.values[rank];
  }
}

/** `12.3` for a figure, `-` when there is none yet. */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}
