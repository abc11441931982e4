// The scanner sends one scan per line (CR, LF or CRLF). This framer is pure and shared by
// the real serial scanner and the simulated one.

export type ScannerEvent =
  | { type: 'scan'; data: string }
  | { type: 'rejected'; reason: 'garbage' | 'oversized' | 'framing'; length: number };

export const DEFAULT_SCAN_MAX_LENGTH = 2048;
/**
 * A scanner sends a whole line in one burst (2 KiB at 9600 baud takes about 2 s, with about
 * 1 ms between bytes). Bytes after a silence this long start a new line: what came before
 * was a fragment whose terminator was lost (a glitch, a scanner reset mid-line).
 */
export const DEFAULT_SCAN_LINE_GAP_MS = 500;

const CR = 0x0d;
const LF = 0x0a;

function isPrintable(byte: number): boolean {
  return byte >= 0x20 && byte <= 0x7e;
}

/**
 * Stateful line framer. Memory is bounded by maxLength: once a line is too long the rest
 * of it is only counted, never buffered, so a scanner stuck streaming bytes cannot exhaust
 * the board's memory. Empty lines are ignored, which also makes CRLF one terminator.
 */
export class ScannerFramer {
  readonly maxLength: number;
  private buffer: number[] = [];
  private lineLength = 0;
  private hasGarbage = false;
  private lastByteAt: number | undefined;

  constructor(
    maxLength: number = DEFAULT_SCAN_MAX_LENGTH,
    private readonly lineGapMs: number = DEFAULT_SCAN_LINE_GAP_MS,
  ) {
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new RangeError(`scanner maxLength must be a positive integer, got ${maxLength}`);
    }
    this.maxLength = maxLength;
  }

  /**
   * `monoNow` (monotonic ms of the chunk's arrival) lets a fragment left without its
   * terminator be dropped, as a 'framing' rejection, instead of being glued to the front of
   * the next scan, which would turn the customer's valid QR code into an unreadable line.
   */
  push(bytes: Uint8Array, monoNow?: number): ScannerEvent[] {
    const events: ScannerEvent[] = [];
    if (monoNow !== undefined && bytes.length > 0) {
      const stale = this.lineLength > 0 && this.lastByteAt !== undefined && monoNow - this.lastByteAt > this.lineGapMs;
      if (stale) {
        events.push({ type: 'rejected', reason: 'framing', length: this.lineLength });
        this.reset();
      }
      this.lastByteAt = monoNow;
    }
    for (const byte of bytes) {
      if (byte === CR || byte === LF) {
        const event = this.endLine();
        if (event !== undefined) events.push(event);
        continue;
      }
      this.lineLength++;
      if (!isPrintable(byte)) this.hasGarbage = true;
      if (this.lineLength > this.maxLength) {
        this.buffer = [];
      } else {
        this.buffer.push(byte);
      }
    }
    return events;
  }

  /** Drops a partial line (e.g. after the port reconnects mid-line). */
  reset(): void {
    this.buffer = [];
    this.lineLength = 0;
    this.hasGarbage = false;
  }

  private endLine(): ScannerEvent | undefined {
    const length = this.lineLength;
    const garbage = this.hasGarbage;
    const data = this.buffer;
    this.reset();
    if (length === 0) return undefined;
    if (length > this.maxLength) return { type: 'rejected', reason: 'oversized', length };
    if (garbage) return { type: 'rejected', reason: 'garbage', length };
    return { type: 'scan', data: String.fromCharCode(...data) };
  }
}
