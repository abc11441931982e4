import { DEFAULT_SCAN_MAX_LENGTH, ScannerFramer } from '../input/scanner-framing.js';
import type { Logger } from 'pino';
import { Listeners } from '../listeners.js';
import { SeededRandom } from '../random.js';
import type { Clock, InputRejection, Scan, Scanner, Unsubscribe } from '../types.js';

/** A scanner fed by hand, through the same line framer as the serial scanner. */
export class SimulatedScanner implements Scanner {
  readonly maxLength: number;
  private readonly framer: ScannerFramer;
  private readonly scans: Listeners<Scan>;
  private readonly rejections: Listeners<InputRejection>;
  private readonly noise: SeededRandom;

  constructor(
    private readonly clock: Clock,
    options: { maxLength?: number; noiseSeed?: number; logger?: Logger } = {},
  ) {
    const onListenerError = (error: unknown): void => options.logger?.error({ err: error }, 'scanner.listener_failed');
    this.scans = new Listeners(onListenerError);
    this.rejections = new Listeners(onListenerError);
    this.maxLength = options.maxLength ?? DEFAULT_SCAN_MAX_LENGTH;
    this.framer = new ScannerFramer(this.maxLength);
    this.noise = new SeededRandom(options.noiseSeed ?? 1);
  }

  onScan(listener: (scan: Scan) => void): Unsubscribe {
    return this.scans.add(listener);
  }

  onRejected(listener: (rejection: InputRejection) => void): Unsubscribe {
    return this.rejections.add(listener);
  }

  /** One scan as the scanner sends it: the text followed by CRLF. */
  scan(text: string): void {
    this.injectBytes(Buffer.from(`${text}\r\n`, 'latin1'));
  }

  /** Raw bytes off the wire; a partial line waits for its terminator. */
  injectBytes(bytes: Uint8Array): void {
    for (const event of this.framer.push(bytes, this.clock.monotonicMs())) {
      const at = this.clock.now();
      if (event.type === 'scan') this.scans.emit({ data: event.data, at });
      else this.rejections.emit({ source: 'scanner', reason: event.reason, length: event.length, at });
    }
  }

  /**
   * Line noise: `length` deterministic pseudo-random bytes (at least one of them not
   * printable) followed by a line end, as a loose cable produces. Yields one rejection.
   */
  injectNoise(length = 16): void {
    const bytes = this.noise.bytes(Math.max(1, length)).map((b) => (b === 0x0a || b === 0x0d ? 0x00 : b));
    bytes[0] = 0x00;
    this.injectBytes(Uint8Array.from([...bytes, 0x0a]));
  }
}
