import type { Logger } from 'pino';
import { DEFAULT_SCAN_MAX_LENGTH, ScannerFramer } from '../input/scanner-framing.js';
import { Listeners } from '../listeners.js';
import type { Clock, InputRejection, Scan, Scanner, Unsubscribe } from '../types.js';
import { SerialConnection, type SerialPortOpener } from './serial-connection.js';

export interface SerialScannerOptions {
  path: string;
  baudRate: number;
  clock: Clock;
  maxLength?: number;
  openPort?: SerialPortOpener;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

/** A barcode/QR scanner on a serial line, framed by the shared scanner framing. */
export class SerialScanner implements Scanner {
  readonly maxLength: number;
  private readonly framer: ScannerFramer;
  private readonly scans: Listeners<Scan>;
  private readonly rejections: Listeners<InputRejection>;
  private readonly connection: SerialConnection;
  private readonly clock: Clock;

  constructor(options: SerialScannerOptions) {
    const onListenerError = (error: unknown): void => options.logger?.error({ err: error }, 'scanner.listener_failed');
    this.scans = new Listeners(onListenerError);
    this.rejections = new Listeners(onListenerError);
    this.clock = options.clock;
    this.maxLength = options.maxLength ?? DEFAULT_SCAN_MAX_LENGTH;
    this.framer = new ScannerFramer(this.maxLength);
    this.connection = new SerialConnection({
      ...options,
      onData: (chunk) => {
        for (const event of this.framer.push(chunk, this.clock.monotonicMs())) {
          if (event.type === 'scan') this.scans.emit({ data: event.data, at: this.clock.now() });
          else this.reject(event.reason, event.length);
        }
      },
      onIoError: () => this.reject('io-error', 0),
      // A line half-received before a disconnect must not be glued to the next one.
      onOpen: () => this.framer.reset(),
    });
  }

  start(): void {
    this.connection.start();
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }

  onScan(listener: (scan: Scan) => void): Unsubscribe {
    return this.scans.add(listener);
  }

  onRejected(listener: (rejection: InputRejection) => void): Unsubscribe {
    return this.rejections.add(listener);
  }

  private reject(reason: InputRejection['reason'], length: number): void {
    this.rejections.emit({ source: 'scanner', reason, length, at: this.clock.now() });
  }
}
